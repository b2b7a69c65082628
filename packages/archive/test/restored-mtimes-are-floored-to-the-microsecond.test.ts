// Restored mtimes equal the archived ones floored to the microsecond (Node's utimes has no finer
// unit), for times before and after 1970 and on every path the extractor sets a time: small files
// (writer thread), large files, symlinks, directories, merging into an existing folder, and a
// single-file restore. The source times are set with `touch -d @SECONDS` (nanoseconds, any sign).

import { execFileSync } from "node:child_process";
import { lstat, mkdir, readdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CollectSink, bufferReader, collectSink, extractArchive, openCatalog, restoreFile } from "../src/index.js";
import { encodeToBuffer, removeDir, tempDir } from "./helpers/tree.js";

// seconds as touch reads them, with the nanoseconds written out
const TIMES = ["-123.456789000", "-123.456789999", "-0.000000001", "-1.000000000", "-86400.000000500", "0.000000000", "0.000000999", "1.500000001", "1600000000.123456789", "4102444800.999999999"];

const floorToUs = (ns: bigint): bigint => (ns >= 0n ? ns / 1000n : -((-ns + 999n) / 1000n)) * 1000n;

function secondsToNs(s: string): bigint {
  const neg = s.startsWith("-");
  const [whole, frac] = s.replace("-", "").split(".");
  const ns = BigInt(whole) * 1_000_000_000n + BigInt(frac.padEnd(9, "0"));
  return neg ? -ns : ns;
}

function setMtime(path: string, seconds: string): void {
  execFileSync("touch", ["-h", "-m", "-d", `@${seconds}`, path]);
}

describe("restored mtimes", () => {
  let work: string;
  let src: string;
  let archive: Buffer;
  let catalog: CollectSink;
  const expected = new Map<string, bigint>();

  beforeAll(async () => {
    work = await tempDir();
    src = join(work, "src");
    await mkdir(src);
    for (const [i, t] of TIMES.entries()) {
      const small = join(src, `small${i}`);
      await writeFile(small, `file ${i}\n`);
      const large = join(src, `large${i}`);
      await writeFile(large, Buffer.alloc(300 * 1024, i + 1));
      const link = join(src, `link${i}`);
      await symlink(`small${i}`, link);
      const dir = join(src, `dir${i}`);
      await mkdir(dir);
      await writeFile(join(dir, "inside"), "x");
      for (const p of [small, large, link, join(dir, "inside"), dir]) setMtime(p, t);
    }
    for (const name of await readdir(src)) expected.set(name, (await lstat(join(src, name), { bigint: true })).mtimeNs);
    expected.set("dir0/inside", (await lstat(join(src, "dir0", "inside"), { bigint: true })).mtimeNs);
    // the source really holds the times (the file system keeps nanoseconds)
    for (const [i, t] of TIMES.entries()) expect(expected.get(`small${i}`), t).toBe(secondsToNs(t));
    catalog = collectSink();
    archive = await encodeToBuffer(src, { catalog });
  });
  afterAll(async () => removeDir(work));

  async function check(root: string, names: Iterable<string>): Promise<void> {
    const wrong: string[] = [];
    for (const name of names) {
      const got = (await lstat(join(root, name), { bigint: true })).mtimeNs;
      const want = floorToUs(expected.get(name)!);
      if (got !== want) wrong.push(`${name}: ${got} instead of ${want}`);
    }
    expect(wrong).toEqual([]);
  }

  it("a full restore into a new folder", async () => {
    const out = join(work, "out");
    await extractArchive([archive], out);
    await check(out, expected.keys());
  });

  it("a restore merged into an existing folder", async () => {
    const out = join(work, "merge");
    await mkdir(out);
    await writeFile(join(out, "already-here"), "");
    await extractArchive([archive], out, { allowExisting: true });
    await check(out, expected.keys());
  });

  it("a single-file restore", async () => {
    const cat = await openCatalog(catalog.buffer());
    for (const [i] of TIMES.entries()) {
      for (const name of [`small${i}`, `large${i}`]) {
        const target = join(work, `one-${name}`);
        await restoreFile(cat, bufferReader(archive), Buffer.from(name), target);
        const got = (await lstat(target, { bigint: true })).mtimeNs;
        expect(got, name).toBe(floorToUs(expected.get(name)!));
      }
    }
  });
});
