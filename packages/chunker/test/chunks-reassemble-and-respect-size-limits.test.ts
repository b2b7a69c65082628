import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ChunkerAlgorithm, chunkerParams, chunkStream } from "../src/index.js";
import { asAsync, collect, mixedBytes, splitBy, xorshiftBytes } from "./helpers.js";

const algorithms: ChunkerAlgorithm[] = ["buzhash", "fastcdc"];

describe.each(algorithms)("%s", (algorithm) => {
  it("chunks concatenate to the input and stay in [min, max] but the last", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 0x7fffffff }),
        fc.integer({ min: 0, max: 4 << 20 }),
        fc.constantFrom(64 * 1024, 128 * 1024, 256 * 1024),
        fc.integer({ min: 1, max: 1 << 20 }),
        async (seed, length, avg, pieceSize) => {
          const { min, max } = chunkerParams(avg);
          const data = mixedBytes(seed, length);
          const chunks = await collect(chunkStream(asAsync(splitBy(data, [pieceSize])), { algorithm, avg }));
          expect(Buffer.concat(chunks).equals(data)).toBe(true);
          chunks.forEach((chunk, i) => {
            expect(chunk.length).toBeLessThanOrEqual(max);
            if (i < chunks.length - 1) expect(chunk.length).toBeGreaterThanOrEqual(min);
            else expect(chunk.length).toBeGreaterThan(0);
          });
        },
      ),
      { numRuns: 30 },
    );
  });

  it("an empty stream gives no chunks, a short one a single chunk", async () => {
    expect(await collect(chunkStream(asAsync([]), { algorithm }))).toEqual([]);
    expect(await collect(chunkStream(asAsync([new Uint8Array(0)]), { algorithm }))).toEqual([]);
    const short = xorshiftBytes(5, 1000);
    const chunks = await collect(chunkStream(asAsync([short.subarray(0, 10), short.subarray(10)]), { algorithm }));
    expect(chunks.length).toBe(1);
    expect(chunks[0].equals(short)).toBe(true);
  });

  it("random data at the default 4 MiB averages within a factor of 1.5 of avg", () => {
    const data = xorshiftBytes(11, 96 << 20);
    const chunks: number[] = [];
    return collect(chunkStream([data], { algorithm })).then((out) => {
      for (const c of out.slice(0, -1)) chunks.push(c.length);
      const mean = chunks.reduce((a, b) => a + b, 0) / chunks.length;
      expect(mean).toBeGreaterThan((4 << 20) / 1.5);
      expect(mean).toBeLessThan((4 << 20) * 1.5);
    });
  });
});
