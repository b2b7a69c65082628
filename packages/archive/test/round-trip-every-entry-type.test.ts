import { createServer } from "node:net";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type ArchiveWarning,
  CopyingPayloadSink,
  bufferReader,
  collectSink,
  extractArchive,
  extractSplitArchive,
  listCatalog,
  newEncodeStats,
  openCatalog,
} from "../src/index.js";
import { makeEveryTypeTree } from "./helpers/fixture-tree.js";
import { diffSnapshots, encodeToBuffer, removeDir, snapshot, tempDir } from "./helpers/tree.js";

describe("round trip of a tree with every entry type", () => {
  let work: string;
  let src: string;
  beforeEach(async () => {
    work = await tempDir();
    src = join(work, "src");
    await (await import("node:fs/promises")).mkdir(src);
  });
  afterEach(async () => removeDir(work));

  it("single stream: restored tree equals the source, sockets skipped with a warning", async () => {
    const info = await makeEveryTypeTree(src);
    if (!info.devicesMade) console.warn(`device nodes skipped: ${info.deviceSkipReason}`);
    const server = createServer();
    await new Promise<void>((r) => server.listen(join(src, "sock"), r));
    const warnings: ArchiveWarning[] = [];
    const stats = newEncodeStats();
    let archive: Buffer;
    let before: Awaited<ReturnType<typeof snapshot>>;
    try {
      before = await snapshot(src);
      archive = await encodeToBuffer(src, { stats, onWarning: (w) => warnings.push(w) });
    } finally {
      await new Promise((r) => server.close(r));
    }
    before.delete(Buffer.from("sock").toString("hex"));
    expect(warnings.map((w) => [w.display, w.reason])).toEqual([["sock", "socket-skipped"]]);
    expect(stats.hardlinks).toBe(2);
    expect(stats.fifos).toBe(1);
    expect(stats.symlinks).toBe(3);
    if (info.devicesMade) expect(stats.devices).toBe(2);

    const out = join(work, "out");
    // feed the decoder in awkward piece sizes to exercise record reassembly
    const pieces: Buffer[] = [];
    for (let o = 0; o < archive.length; o += 4093) pieces.push(archive.subarray(o, o + 4093));
    const xs = await extractArchive(pieces, out, { onWarning: (w) => warnings.push(w) });
    expect(xs.entries).toBe(stats.entries);
    expect(diffSnapshots(before, await snapshot(out))).toEqual([]);
    expect(warnings.length).toBe(1);
  });

  it("split layout: metadata + payload restore to the same tree; catalog lists it", async () => {
    const info = await makeEveryTypeTree(src);
    const before = await snapshot(src);
    const payloadOut = collectSink();
    const sink = new CopyingPayloadSink((b) => payloadOut.write(b));
    const catalog = collectSink();
    const meta = await encodeToBuffer(src, { payload: sink, catalog });
    expect(sink.position()).toBe(payloadOut.length);
    const out = join(work, "out");
    await extractSplitArchive([meta], bufferReader(payloadOut.buffer()), out);
    expect(diffSnapshots(before, await snapshot(out))).toEqual([]);

    const cat = await openCatalog(catalog.buffer());
    expect(cat.split).toBe(true);
    const top = await listCatalog(cat, "");
    const names = top.map((e) => e.name.toString("latin1"));
    expect(names).toEqual([...names].sort((a, b) => Buffer.compare(Buffer.from(a, "latin1"), Buffer.from(b, "latin1"))));
    expect(top.find((e) => e.name.toString() === "random.bin")?.size).toBe(3 * 1024 * 1024 + 17);
    expect(top.find((e) => e.name.toString() === "fifo")?.kind).toBe("fifo");
    if (info.devicesMade) expect(top.find((e) => e.name.toString() === "chr")?.kind).toBe("device");
    const deep = await listCatalog(cat, info.deepPath);
    expect(deep.map((e) => e.name.toString())).toEqual(["bottom.txt"]);
    const sub = await listCatalog(cat, "/sub/");
    expect(sub.map((e) => [e.name.toString(), e.kind])).toEqual([
      ["hl2", "hardlink"],
      ["hl3", "hardlink"],
      ["setuid", "file"],
    ]);
    // every entry counted once, root excluded
    expect(cat.entryCount).toBe(before.size - 1);
  });
});
