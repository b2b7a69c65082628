import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ChunkerAlgorithm, chunkStream } from "../src/index.js";
import { asAsync, collect, mixedBytes, scannerLengths, sizes, splitBy } from "./helpers.js";

// The property is size-independent, so it runs at the smallest avg (64 KiB) on a few MiB.
const AVG = 64 * 1024;
const algorithms: ChunkerAlgorithm[] = ["buzhash", "fastcdc"];

describe.each(algorithms)("%s: any split of the input into buffers gives the same chunks", (algorithm) => {
  it("through chunkStream", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 0x7fffffff }),
        fc.integer({ min: 64 * 1024, max: 3 << 20 }),
        fc.array(fc.integer({ min: 1, max: 600_000 }), { minLength: 1, maxLength: 12 }),
        async (seed, length, pieceSizes) => {
          const data = mixedBytes(seed, length);
          const whole = await collect(chunkStream([data], { algorithm, avg: AVG }));
          const split = await collect(chunkStream(asAsync(splitBy(data, pieceSizes)), { algorithm, avg: AVG }));
          expect(sizes(split)).toEqual(sizes(whole));
          expect(Buffer.concat(split).equals(data)).toBe(true);
        },
      ),
      { numRuns: 25 },
    );
  });

  it("through the scanner, with pieces down to one byte", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0x7fffffff }),
        fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 8 }),
        (seed, pieceSizes) => {
          const data = mixedBytes(seed, 1 << 20);
          const whole = scannerLengths([data], { algorithm, avg: AVG });
          expect(scannerLengths(splitBy(data, pieceSizes), { algorithm, avg: AVG })).toEqual(whole);
        },
      ),
      { numRuns: 10 },
    );
  });
});

describe("the default 4 MiB average is split-independent too", () => {
  it.each(algorithms)("%s on 40 MiB in odd-sized pieces", async (algorithm) => {
    const data = mixedBytes(4242, 40 << 20);
    const whole = scannerLengths([data], { algorithm });
    expect(whole.length).toBeGreaterThan(3);
    const split = await collect(chunkStream(asAsync(splitBy(data, [1_000_003, 65_537, 7])), { algorithm }));
    expect(sizes(split)).toEqual(whole);
  });
});
