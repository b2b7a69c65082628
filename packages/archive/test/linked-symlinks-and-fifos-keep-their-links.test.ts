// Symlinks and fifos with more than one name (hardlinks to them) keep their links through a round
// trip, as regular files do and as pxar and tar keep them; a single second name restored on its
// own (restoreFile) is a copy of the node.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CopyingPayloadSink, bufferReader, collectSink, extractArchive, extractSplitArchive, listCatalog, newEncodeStats, openCatalog, restoreFile } from "../src/index.js";
import { diffSnapshots, encodeToBuffer, removeDir, snapshot, tempDir } from "./helpers/tree.js";

describe("hardlinked symlinks and fifos", () => {
  let work: string;
  let src: string;
  beforeEach(async () => {
    work = await tempDir();
    src = join(work, "src");
    fs.mkdirSync(join(src, "sub"), { recursive: true });
    fs.writeFileSync(join(src, "target.txt"), "t\n");
    fs.symlinkSync("target.txt", join(src, "a-link"));
    fs.linkSync(join(src, "a-link"), join(src, "sub", "b-link")); // link(2) does not follow the symlink
    execFileSync("mkfifo", [join(src, "a-fifo")]);
    fs.linkSync(join(src, "a-fifo"), join(src, "sub", "b-fifo"));
    expect(fs.lstatSync(join(src, "sub", "b-link")).isSymbolicLink()).toBe(true);
    expect(fs.lstatSync(join(src, "a-link")).nlink).toBe(2);
  });
  afterEach(async () => removeDir(work));

  it("keep their links in both layouts", async () => {
    const before = await snapshot(src);
    const stats = newEncodeStats();
    const single = await encodeToBuffer(src, { stats });
    expect(stats.hardlinks).toBe(2);
    expect(stats.symlinks).toBe(1);
    expect(stats.fifos).toBe(1);
    const out = join(work, "out");
    await extractArchive([single], out);
    expect(diffSnapshots(before, await snapshot(out))).toEqual([]);
    expect(fs.lstatSync(join(out, "sub", "b-link")).ino).toBe(fs.lstatSync(join(out, "a-link")).ino);
    expect(fs.lstatSync(join(out, "sub", "b-fifo")).ino).toBe(fs.lstatSync(join(out, "a-fifo")).ino);
    expect(fs.readlinkSync(join(out, "sub", "b-link"))).toBe("target.txt");

    const payloadOut = collectSink();
    const sink = new CopyingPayloadSink((b) => payloadOut.write(b));
    const catalog = collectSink();
    const meta = await encodeToBuffer(src, { payload: sink, catalog });
    const out2 = join(work, "out2");
    await extractSplitArchive([meta], bufferReader(payloadOut.buffer()), out2);
    expect(diffSnapshots(before, await snapshot(out2))).toEqual([]);

    const cat = await openCatalog(catalog.buffer());
    expect((await listCatalog(cat, "sub")).map((e) => [e.name.toString(), e.kind])).toEqual([
      ["b-fifo", "hardlink"],
      ["b-link", "hardlink"],
    ]);
    // the second name alone: a copy of the symlink
    const one = join(work, "one-link");
    await restoreFile(cat, { metadata: bufferReader(meta), payload: bufferReader(payloadOut.buffer()) }, "sub/b-link", one);
    expect(fs.readlinkSync(one)).toBe("target.txt");
  });
});
