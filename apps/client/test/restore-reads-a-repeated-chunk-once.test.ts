import { randomBytes } from "node:crypto";
import { DynamicIndexReader, encodeChunk, encodeDynamicIndex } from "@cairn/format";
import { describe, expect, it } from "vitest";
import { ChunkPool } from "../src/pipeline.js";
import type { OpenSnapshot } from "../src/remote.js";
import { ChunkRangeReader } from "../src/restore-io.js";

// After metadata change detection the payload holds the chunk around a changed file twice (once
// before the file's new data, once after). A split-archive restore downloads and decodes it once.
describe("payload reads of a repeated chunk", () => {
  it("download a chunk that appears twice in the window once, and return the right bytes", async () => {
    const parts = [randomBytes(70_000), randomBytes(50_000), randomBytes(30_000)];
    const [a, b, c] = parts.map((p) => encodeChunk(p, { compress: true }));
    const layout = [a, b, a, c, a]; // A B A C A
    const datas = [parts[0], parts[1], parts[0], parts[2], parts[0]];
    let end = 0;
    const entries = layout.map((x, i) => ({ end: (end += datas[i].length), digest: x.digest }));
    const index = DynamicIndexReader.fromBuffer(encodeDynamicIndex({ entries }));
    const blobs = new Map([a, b, c].map((x) => [x.digest.toString("hex"), x.blob]));
    const asked: string[] = [];
    const snap = {
      reader: {
        chunk: async (digest: Buffer) => {
          asked.push(digest.toString("hex"));
          return blobs.get(digest.toString("hex"))!;
        },
      },
    } as unknown as OpenSnapshot;
    const pool = new ChunkPool({ workers: 1 });
    try {
      const reader = new ChunkRangeReader(snap, index, pool);
      const whole = Buffer.concat(datas);
      let got = Buffer.alloc(0);
      for (let off = 0; off < whole.length; off += 9_999) got = Buffer.concat([got, await reader.read(off, 9_999)]);
      expect(got.equals(whole)).toBe(true);
      expect([...asked].sort()).toEqual([a, b, c].map((x) => x.digest.toString("hex")).sort());
    } finally {
      await pool.close();
    }
  });
});
