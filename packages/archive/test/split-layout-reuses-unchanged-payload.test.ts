import { appendFile, link, mkdir, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  bufferReader,
  collectSink,
  CopyingPayloadSink,
  extractSplitArchive,
  newEncodeStats,
  openMetadataIndex,
  type PayloadSink,
  readerStream,
  reuseFromPrevious,
} from "../src/index.js";
import { diffSnapshots, encodeToBuffer, removeDir, snapshot, tempDir } from "./helpers/tree.js";

async function makeTree(root: string): Promise<void> {
  for (let d = 0; d < 3; d++) {
    await mkdir(join(root, `dir${d}`));
    for (let f = 0; f < 10; f++) await writeFile(join(root, `dir${d}`, `file${f}`), Buffer.alloc(1000 * (f + 1) + d, `${d}-${f}`));
  }
  await writeFile(join(root, "big"), Buffer.alloc(3 << 20, "big"));
  await link(join(root, "big"), join(root, "big-link"));
}

async function encodeSplit(root: string, prev?: { meta: Buffer; payload: Buffer }, sinkFactory?: (out: (b: Buffer) => void, prevPayload?: Buffer) => PayloadSink) {
  const payload = collectSink();
  const sink = sinkFactory ? sinkFactory((b) => payload.write(b), prev?.payload) : new CopyingPayloadSink((b) => payload.write(b), prev ? bufferReader(prev.payload) : undefined);
  const stats = newEncodeStats();
  const reusePayload = prev ? reuseFromPrevious(await openMetadataIndex(bufferReader(prev.meta))) : undefined;
  const meta = await encodeToBuffer(root, { payload: sink, reusePayload, stats, onWarning: () => {} });
  return { meta, payload: payload.buffer(), stats };
}

/**
 * Like the client will: injects whole "chunks" (64 KiB aligned) around the re-used range. With
 * `coalesce`, a range lying inside the last injected chunks is pointed at instead of injected again.
 */
function chunkInjectingSink(out: (b: Buffer) => void, prevPayload?: Buffer, coalesce = false): PayloadSink {
  let pos = 0;
  const CH = 64 * 1024;
  let last: { prevStart: number; prevEnd: number; newStart: number } | undefined;
  return {
    position: () => pos,
    write(b) {
      out(b);
      pos += b.length;
      last = undefined;
    },
    reuse(prevOffset, length) {
      if (coalesce && last && prevOffset >= last.prevStart && prevOffset + length <= last.prevEnd) return last.newStart + (prevOffset - last.prevStart);
      const start = Math.floor(prevOffset / CH) * CH;
      const end = Math.min(prevPayload!.length, Math.ceil((prevOffset + length) / CH) * CH);
      const at = pos + (prevOffset - start);
      last = { prevStart: start, prevEnd: end, newStart: pos };
      out(prevPayload!.subarray(start, end));
      pos += end - start;
      return at;
    },
  };
}

describe("split layout with change detection", () => {
  let work: string;
  let src: string;
  beforeEach(async () => {
    work = await tempDir();
    src = join(work, "src");
    await mkdir(src);
    await makeTree(src);
  });
  afterEach(async () => removeDir(work));

  async function mutate(): Promise<{ changed: string[] }> {
    await writeFile(join(src, "dir0", "file3"), Buffer.alloc(4000, "changed")); // same size, new content
    const old = await stat(join(src, "dir1", "file1"));
    await writeFile(join(src, "dir1", "file1"), Buffer.alloc(2001, "sneaky")); // same size...
    await utimes(join(src, "dir1", "file1"), old.atime, old.mtime); // ...and old mtime: only ctime tells
    await appendFile(join(src, "dir2", "file9"), "more");
    await rm(join(src, "dir2", "file0"));
    await writeFile(join(src, "dir2", "new"), "brand new");
    await rename(join(src, "dir0", "file5"), join(src, "dir0", "file5-renamed")); // new path: not found in previous
    return { changed: ["dir0/file3", "dir1/file1", "dir2/file9", "dir2/new", "dir0/file5-renamed"] };
  }

  it("unchanged files are re-used without being read; the restored tree equals the live tree", async () => {
    const a = await encodeSplit(src);
    expect(a.stats.filesRead).toBe(31);
    const { changed } = await mutate();
    const b = await encodeSplit(src, a);
    const total = 31 - 1 + 1; // one removed, one added
    expect(b.stats.files).toBe(total);
    expect(b.stats.filesRead).toBe(changed.length);
    expect(b.stats.filesReused).toBe(total - changed.length);
    expect(b.stats.bytesRead).toBe(4000 + 2001 + 10002 + 4 + 9 + 6000);
    expect(b.stats.hardlinks).toBe(1);

    const out = join(work, "out");
    await extractSplitArchive(readerStream(bufferReader(b.meta), 0, b.meta.length, 777), bufferReader(b.payload), out);
    expect(diffSnapshots(await snapshot(src), await snapshot(out))).toEqual([]);

    // a third run against B re-uses everything
    const c = await encodeSplit(src, b);
    expect(c.stats.filesRead).toBe(0);
    expect(c.stats.filesReused).toBe(total);
  });

  it("re-used ranges may land anywhere in the new payload stream (chunk-granular injection)", async () => {
    const a = await encodeSplit(src);
    await mutate();
    const b = await encodeSplit(src, a, chunkInjectingSink);
    expect(b.stats.filesReused).toBeGreaterThan(20);
    // injected neighbour bytes make the new payload larger than a fresh one
    const fresh = await encodeSplit(src);
    expect(b.payload.length).toBeGreaterThan(fresh.payload.length);
    const out = join(work, "out");
    await extractSplitArchive([b.meta], bufferReader(b.payload), out);
    expect(diffSnapshots(await snapshot(src), await snapshot(out))).toEqual([]);
    // coalescing neighbours that share injected chunks gives a smaller stream, same tree
    const coalesced = await encodeSplit(src, a, (o, p) => chunkInjectingSink(o, p, true));
    expect(coalesced.payload.length).toBeLessThan(b.payload.length);
    const outC = join(work, "outC");
    await extractSplitArchive([coalesced.meta], bufferReader(coalesced.payload), outC);
    expect(diffSnapshots(await snapshot(src), await snapshot(outC))).toEqual([]);
    // and a next run can re-use from that sparse-ish payload stream
    const c = await encodeSplit(src, b, chunkInjectingSink);
    const out2 = join(work, "out2");
    await extractSplitArchive([c.meta], bufferReader(c.payload), out2);
    expect(diffSnapshots(await snapshot(src), await snapshot(out2))).toEqual([]);
  });

  it("the previous metadata index answers lookups by path", async () => {
    const a = await encodeSplit(src);
    const prev = await openMetadataIndex(a.meta);
    expect(prev.size).toBe(31);
    const e = prev.lookup("dir1/file2")!;
    const st = await stat(join(src, "dir1", "file2"), { bigint: true });
    expect(e).toMatchObject({ size: 3001, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino });
    expect(a.payload.subarray(e.payloadOffset + 16, e.payloadOffset + 16 + 3001).equals(Buffer.alloc(3001, "1-2"))).toBe(true);
    expect(prev.lookup(Buffer.from("dir1/missing"))).toBeUndefined();
    expect(prev.lookup("dir1")).toBeUndefined();
  });
});
