// An entry time is i64 nanoseconds (1677 to 2262-04-11T23:47:16Z), but ext4 keeps mtimes up to
// the year 2446. A file, directory or symlink dated past 2262 does not stop the backup: its time
// is stored clamped to the last one the format holds, with a `time-clamped` warning naming it, the
// catalog shows the same time, the restore sets it, and a metadata-mode re-backup still re-uses
// the file's payload (the clamped stored time matches the clamped live one).

import { execFileSync } from "node:child_process";
import { lstat, mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ArchiveWarning,
  bufferReader,
  CopyingPayloadSink,
  collectSink,
  extractArchive,
  extractSplitArchive,
  newEncodeStats,
  openCatalog,
  openMetadataIndex,
  readerStream,
  reuseFromPrevious,
} from "../src/index.js";
import { encodeToBuffer, removeDir, tempDir } from "./helpers/tree.js";

const LAST_NS = 2n ** 63n - 1n;

/**
 * A restored time of the last instant: never after it (Node's utimes takes a double, which near
 * 2262 holds about 2 ms steps; the extractor takes the one at or below), and within those 2 ms.
 */
function expectLastRestored(ns: bigint, what: string): void {
  expect(ns <= LAST_NS, `${what} restored at ${ns}, after ${LAST_NS}`).toBe(true);
  expect(ns > LAST_NS - 2_000_000n, `${what} restored at ${ns}, more than 2 ms before ${LAST_NS}`).toBe(true);
}

describe("times past 2262", () => {
  let work: string;
  let src: string;

  beforeAll(async () => {
    work = await tempDir();
    src = join(work, "src");
    await mkdir(join(src, "later"), { recursive: true });
    await writeFile(join(src, "later", "inside"), "in\n");
    await writeFile(join(src, "future"), "from the future\n");
    await writeFile(join(src, "now"), "today\n");
    await symlink("future", join(src, "link"));
    for (const p of ["future", "link", "later"]) execFileSync("touch", ["-h", "-m", "-d", "2300-01-01T00:00:00Z", join(src, p)]);
    // the file system really holds the time
    expect((await lstat(join(src, "future"), { bigint: true })).mtimeNs).toBeGreaterThan(LAST_NS);
  });
  afterAll(async () => removeDir(work));

  it("back up with one warning per entry, restore clamped, and list the clamped time", async () => {
    const warnings: ArchiveWarning[] = [];
    const catalog = collectSink();
    const archive = await encodeToBuffer(src, { catalog, onWarning: (w) => warnings.push(w) });
    expect(warnings.map((w) => [w.display, w.reason]).sort()).toEqual([
      ["future", "time-clamped"],
      ["later", "time-clamped"],
      ["link", "time-clamped"],
    ]);
    for (const w of warnings) expect(w.message).toMatch(/mtime 2300-01-01T00:00:00Z is outside .*stored as 2262-04-11T23:47:16Z/);

    const out = join(work, "out");
    await extractArchive(readerStream(bufferReader(archive)), out);
    for (const p of ["future", "link", "later"]) expectLastRestored((await lstat(join(out, p), { bigint: true })).mtimeNs, p);
    // so a backup of the restored tree holds the times as they are, without a warning
    const again: ArchiveWarning[] = [];
    await encodeToBuffer(out, { onWarning: (w) => again.push(w) });
    expect(again).toEqual([]);
    const nowNs = (await lstat(join(src, "now"), { bigint: true })).mtimeNs;
    expect((await lstat(join(out, "now"), { bigint: true })).mtimeNs).toBe((nowNs / 1000n) * 1000n);

    const cat = await openCatalog(catalog.buffer());
    const root = await cat.list("");
    const byName = new Map(root.map((e) => [e.name.toString(), e]));
    expect(byName.get("future")?.mtimeNs).toBe(LAST_NS);
    expect(byName.get("later")?.mtimeNs).toBe(LAST_NS);
  });

  it("a metadata-mode re-backup re-uses the clamped file's payload", async () => {
    const encodeSplit = async (prev?: { meta: Buffer; payload: Buffer }) => {
      const payload = collectSink();
      const sink = new CopyingPayloadSink((b) => payload.write(b), prev ? bufferReader(prev.payload) : undefined);
      const stats = newEncodeStats();
      const reusePayload = prev ? reuseFromPrevious(await openMetadataIndex(bufferReader(prev.meta))) : undefined;
      const meta = await encodeToBuffer(src, { payload: sink, reusePayload, stats, onWarning: () => {} });
      return { meta, payload: payload.buffer(), stats };
    };
    const first = await encodeSplit();
    const second = await encodeSplit(first);
    expect(second.stats.filesReused).toBe(3);
    const out = join(work, "split-out");
    await extractSplitArchive(readerStream(bufferReader(second.meta)), bufferReader(second.payload), out);
    expectLastRestored((await lstat(join(out, "future"), { bigint: true })).mtimeNs, "future");
  });
});
