// Restore creates files directly at their final name (no temp + rename) with
// O_CREAT|O_EXCL|O_NOFOLLOW. Whatever appears at that name behind the extractor's back (a symlink
// to somewhere else, a regular file) is refused with a typed error and left alone; nothing is
// written outside the target. A file that fails midway is removed with a warning.

import { lstat, mkdir, readdir, readFile, readlink, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ArchiveWarning, extractArchive } from "../src/index.js";
import { S_IFREG } from "../src/format.js";
import { Crafter, twoParts } from "./helpers/craft.js";
import { removeDir, tempDir } from "./helpers/tree.js";

let work: string;
let sentinelDir: string;
let n = 0;


async function sentinelState(): Promise<string> {
  const names = (await readdir(sentinelDir)).sort();
  return (await Promise.all(names.map(async (f) => `${f}=${await readFile(join(sentinelDir, f), "utf8")}`))).join(",");
}

describe("direct create at the final name", () => {
  let before: string;
  beforeAll(async () => {
    work = await tempDir();
    sentinelDir = join(work, "elsewhere");
    await mkdir(sentinelDir);
    await writeFile(join(sentinelDir, "secret"), "untouched");
    before = await sentinelState();
  });
  afterAll(async () => {
    expect(await sentinelState()).toBe(before);
    await removeDir(work);
  });

  // small files take the synchronous one-write path, large ones the streaming path
  it.each([
    ["small", "pwned"],
    ["large", "p".repeat(300 * 1024)],
  ])("a symlink planted at a %s file's name is refused (ERR_ARCHIVE_ESCAPE), not followed or replaced", async (_kind, content) => {
    const target = join(work, `t${n++}`);
    const c = new Crafter().dir("").dir("d");
    const cut = c.pos;
    c.file("f", content).end().end();
    const all = c.bytes();
    const warnings: ArchiveWarning[] = [];
    const run = extractArchive(
      twoParts(all.subarray(0, cut), () => symlink(join(sentinelDir, "secret"), join(target, "d", "f")), all.subarray(cut)),
      target,
      { onWarning: (w) => warnings.push(w) },
    );
    await expect(run).rejects.toMatchObject({ code: "ERR_ARCHIVE_ESCAPE", path: "d/f" });
    // the planted link is still there, untouched; nothing was written through it
    expect((await lstat(join(target, "d", "f"))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(target, "d", "f"))).toBe(join(sentinelDir, "secret"));
    expect(await sentinelState()).toBe(before);
    // it was never ours, so it is not "removed" either
    expect(warnings.filter((w) => w.reason === "partial-removed")).toEqual([]);
  });

  it("a regular file planted at the name is refused and keeps its content", async () => {
    const target = join(work, `t${n++}`);
    const c = new Crafter().dir("").dir("d");
    const cut = c.pos;
    c.file("f", "from the archive").end().end();
    const all = c.bytes();
    const run = extractArchive(
      twoParts(all.subarray(0, cut), () => writeFile(join(target, "d", "f"), "someone else's"), all.subarray(cut)),
      target,
      { onWarning: () => {} },
    );
    await expect(run).rejects.toMatchObject({ code: "ERR_ARCHIVE_ESCAPE", path: "d/f" });
    expect(await readFile(join(target, "d", "f"), "utf8")).toBe("someone else's");
  });

  it("a large file cut off midway is removed from its final name with a partial-removed warning", async () => {
    const target = join(work, `t${n++}`);
    const c = new Crafter().dir("").file("big", Buffer.alloc(1 << 20, 7)).end();
    const all = c.bytes();
    const warnings: ArchiveWarning[] = [];
    // two pieces so the file is already open and partly written when the stream ends
    const stream = [all.subarray(0, 600 * 1024), all.subarray(600 * 1024, 900 * 1024)];
    await expect(extractArchive(stream, target, { onWarning: (w) => warnings.push(w) })).rejects.toMatchObject({ code: "ERR_ARCHIVE_TRUNCATED" });
    expect(warnings.map((w) => [w.reason, w.path.toString()])).toEqual([["partial-removed", "big"]]);
    expect(await readdir(target)).toEqual([]);
  });

  it("small files get their exact permissions, with or without the umask's bits, setuid included", async () => {
    const target = join(work, `t${n++}`);
    const modes = [0o644, 0o600, 0o444, 0o666, 0o777, 0o4755, 0o2750, 0o000];
    const c = new Crafter().dir("");
    for (const [i, m] of modes.entries()) c.file(`f${i}`, `content ${i}`, { mode: S_IFREG | m });
    await extractArchive([c.end().bytes()], target, { onWarning: () => {} });
    for (const [i, m] of modes.entries()) {
      const st = await stat(join(target, `f${i}`));
      expect((st.mode & 0o7777).toString(8)).toBe(m.toString(8));
      expect(st.mtimeMs).toBe(1_700_000_000_000);
    }
    expect(await readFile(join(target, "f3"), "utf8")).toBe("content 3");
  });
});
