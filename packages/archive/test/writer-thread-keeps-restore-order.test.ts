// Small files and directory metadata are created by the extractor's writer thread, in batches,
// while the main thread goes on decoding. The order must still be the archive's: a directory's
// mode and mtime come after every file inside it (a file created later would move the mtime
// and, without write permission, could not be created at all), a hardlink waits for its target,
// and after the first failure nothing more is written.

import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ArchiveWarning, extractArchive } from "../src/index.js";
import { Crafter, twoParts } from "./helpers/craft.js";
import { removeDir, tempDir } from "./helpers/tree.js";

let work: string;
let n = 0;


describe("the restore's writer thread", () => {
  beforeAll(async () => {
    work = await tempDir();
  });
  afterAll(async () => {
    await removeDir(work);
  });

  it("applies a directory's mode and mtime after the many small files inside it", async () => {
    const target = join(work, `t${n++}`);
    const c = new Crafter().dir("");
    // several batches' worth of files in read-only directories, nested
    c.dir("ro", 0o555);
    for (let i = 0; i < 300; i++) c.file(`f${String(i).padStart(3, "0")}`, `file ${i} `.repeat(1 + (i % 50)));
    c.dir("inner", 0o500);
    for (let i = 0; i < 70; i++) c.file(`g${String(i).padStart(2, "0")}`, Buffer.alloc(70_000 + i, i));
    c.end().end();
    c.file("zlast", "after the directories");
    await extractArchive([c.end().bytes()], target, { onWarning: () => {} });

    const ro = join(target, "ro");
    expect((await readdir(ro)).length).toBe(301);
    expect(await readFile(join(ro, "f007"), "utf8")).toBe("file 7 ".repeat(8));
    expect((await readFile(join(ro, "inner", "g69"))).equals(Buffer.alloc(70_069, 69))).toBe(true);
    for (const [dir, mode] of [
      [ro, 0o555],
      [join(ro, "inner"), 0o500],
    ] as const) {
      const st = await stat(dir);
      expect((st.mode & 0o7777).toString(8)).toBe(mode.toString(8));
      // the archived mtime: nothing was created in the directory after its metadata was set
      expect(st.mtimeMs).toBe(1_700_000_000_000);
    }
    expect((await stat(target)).mtimeMs).toBe(1_700_000_000_000);
  });

  it("a hardlink to a file still queued for the writer finds it", async () => {
    const target = join(work, `t${n++}`);
    const c = new Crafter().dir("");
    for (let i = 0; i < 10; i++) c.file(`a${i}`, `a${i}`);
    c.file("target", "linked content", { flags: 1 });
    c.hardlink("zlink", "target");
    await extractArchive([c.end().bytes()], target, { onWarning: () => {} });
    const [a, b] = await Promise.all([stat(join(target, "target")), stat(join(target, "zlink"))]);
    expect(b.ino).toBe(a.ino);
    expect(await readFile(join(target, "zlink"), "utf8")).toBe("linked content");
  });

  it("stops at the first failure: the refused file keeps its content and later small files are not written", async () => {
    const target = join(work, `t${n++}`);
    const c = new Crafter().dir("").dir("d");
    const cut = c.pos;
    c.file("m", "from the archive");
    for (let i = 0; i < 20; i++) c.file(`z${i}`, `later ${i}`);
    c.end().end();
    const all = c.bytes();
    const warnings: ArchiveWarning[] = [];
    const run = extractArchive(
      twoParts(all.subarray(0, cut), () => writeFile(join(target, "d", "m"), "planted"), all.subarray(cut)),
      target,
      { onWarning: (w) => warnings.push(w) },
    );
    await expect(run).rejects.toMatchObject({ code: "ERR_ARCHIVE_ESCAPE", path: "d/m" });
    expect(await readFile(join(target, "d", "m"), "utf8")).toBe("planted");
    expect(await readdir(join(target, "d"))).toEqual(["m"]);
    expect(warnings.filter((w) => w.reason === "partial-removed")).toEqual([]);
  });
});
