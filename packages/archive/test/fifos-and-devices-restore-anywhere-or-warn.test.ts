// Fifos and device nodes: restored below folders whose names are not UTF-8 (mknod and mkfifo
// take string paths, so the extractor makes the node under an ASCII name and renames it into
// place), and, where a node cannot be made (no mknod on PATH, or not root for a device), skipped
// with a `node-skipped` warning naming it while the rest of the tree is restored, as tar does.

import { execFileSync } from "node:child_process";
import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ArchiveWarning, bufferReader, extractArchive, readerStream } from "../src/index.js";
import { encodeToBuffer, removeDir, tempDir } from "./helpers/tree.js";

const ODD = Buffer.from([0xff, 0x2d, 0xfe]);

describe("fifos and device nodes", () => {
  let work: string;
  let archive: Buffer;
  let oddDir: Buffer;

  beforeAll(async () => {
    work = await tempDir();
    const src = join(work, "src");
    mkdirSync(src);
    oddDir = Buffer.concat([Buffer.from(`${src}/`), ODD]);
    mkdirSync(oddDir);
    execFileSync("mkfifo", [join(src, "fifo-tmp")]);
    renameSync(join(src, "fifo-tmp"), Buffer.concat([oddDir, Buffer.from("/fifo")]));
    execFileSync("mkfifo", [join(src, "top-fifo")]);
    writeFileSync(join(src, "a.txt"), "before\n");
    writeFileSync(join(src, "z.txt"), "after\n");
    writeFileSync(Buffer.concat([oddDir, Buffer.from("/inside.txt")]), "inside\n");
    archive = await encodeToBuffer(src, { onWarning: () => {} });
  });
  afterAll(async () => removeDir(work));

  it("a fifo below a folder whose name is not UTF-8 is restored, leaving no temporary name", async () => {
    const out = join(work, "out");
    const warnings: ArchiveWarning[] = [];
    const stats = await extractArchive(readerStream(bufferReader(archive)), out, { onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual([]);
    expect(stats.fifos).toBe(2);
    const restoredOdd = Buffer.concat([Buffer.from(`${out}/`), ODD]);
    expect(lstatSync(Buffer.concat([restoredOdd, Buffer.from("/fifo")])).isFIFO()).toBe(true);
    expect(lstatSync(join(out, "top-fifo")).isFIFO()).toBe(true);
    expect(readdirSync(restoredOdd).map(String).sort()).toEqual(["fifo", "inside.txt"]);
    expect(readdirSync(out).filter((n) => n.startsWith(".cxar-"))).toEqual([]);
  });

  it("without mkfifo on PATH each fifo is a warning and everything else is restored", async () => {
    const out = join(work, "no-path");
    const warnings: ArchiveWarning[] = [];
    const saved = process.env.PATH;
    process.env.PATH = join(work, "nothing-here");
    try {
      const stats = await extractArchive(readerStream(bufferReader(archive)), out, { onWarning: (w) => warnings.push(w) });
      expect(stats.fifos).toBe(0);
    } finally {
      process.env.PATH = saved;
    }
    expect(warnings.map((w) => [w.path.equals(Buffer.concat([ODD, Buffer.from("/fifo")])) ? "odd/fifo" : w.display, w.reason]).sort()).toEqual([
      ["odd/fifo", "node-skipped"],
      ["top-fifo", "node-skipped"],
    ]);
    for (const w of warnings) expect(w.message).toBe("fifo not restored: the mkfifo command is not on PATH");
    expect(readFileSync(join(out, "a.txt"), "utf8")).toBe("before\n");
    expect(readFileSync(join(out, "z.txt"), "utf8")).toBe("after\n");
    expect(readFileSync(Buffer.concat([Buffer.from(`${out}/`), ODD, Buffer.from("/inside.txt")]), "utf8")).toBe("inside\n");
    expect(readdirSync(out).sort()).toEqual([ODD.toString(), "a.txt", "z.txt"].sort());
  });
});
