import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ChunkerAlgorithm, chunkerParams, chunkStream } from "../src/index.js";
import { collect, sizes, xorshiftBytes } from "./helpers.js";

// buzhash: a run of one byte value has hash 0 (each table entry is XORed in at all 32 rotations,
//   twice), and the test (h & m) >= m - 2 never passes for 0.
// fastcdc: after 32 bytes of value c, h = -G[c] mod 2^32, whose bit 31 is set because every G
//   entry is in [1, 2^31]; both masks include bit 31, so (h & mask) === 0 never holds.
const algorithms: ChunkerAlgorithm[] = ["buzhash", "fastcdc"];

describe.each(algorithms)("%s never cuts inside a run of one repeated byte", (algorithm) => {
  it("a stream of zeros is cut into max-size chunks, the last one short", async () => {
    const avg = 64 * 1024;
    const { max } = chunkerParams(avg);
    const chunks = await collect(chunkStream([Buffer.alloc(10 * max + 12345)], { algorithm, avg }));
    expect(sizes(chunks)).toEqual([...Array(10).fill(max), 12345]);
  });

  it("at the default avg, 64 MiB of zeros gives 16 MiB chunks", async () => {
    const chunks = await collect(chunkStream([Buffer.alloc(64 << 20)], { algorithm }));
    expect(sizes(chunks)).toEqual([16 << 20, 16 << 20, 16 << 20, 16 << 20]);
  });

  it("after random data, every chunk that starts inside the run is max-size", () =>
    fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 1 << 20 }),
        fc.integer({ min: 1, max: 0x7fffffff }),
        async (byte, prefixLength, seed) => {
          const avg = 64 * 1024;
          const { max } = chunkerParams(avg);
          const runLength = 12 * max;
          const data = Buffer.concat([xorshiftBytes(seed, prefixLength), Buffer.alloc(runLength, byte)]);
          const chunks = await collect(chunkStream([data], { algorithm, avg }));
          let offset = 0;
          for (const chunk of chunks.slice(0, -1)) {
            if (offset >= prefixLength) expect(chunk.length).toBe(max);
            offset += chunk.length;
          }
        },
      ),
      { numRuns: 20 },
    ));
});
