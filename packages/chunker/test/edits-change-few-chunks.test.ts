import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ChunkerAlgorithm, chunkStream } from "../src/index.js";
import { collect, sha256, xorshiftBytes } from "./helpers.js";

// Locality: inserting or deleting up to 100 bytes in the middle changes at most 3 chunks, i.e. at
// most 3 chunks of the edited stream are not chunks of the original.
const algorithms: ChunkerAlgorithm[] = ["buzhash", "fastcdc"];

const edit = fc.record({
  at: fc.double({ min: 0.25, max: 0.75, noNaN: true }),
  insert: fc.boolean(),
  count: fc.integer({ min: 1, max: 100 }),
  seed: fc.integer({ min: 1, max: 0x7fffffff }),
});

function applyEdit(data: Buffer, e: { at: number; insert: boolean; count: number; seed: number }): Buffer {
  const pos = Math.floor(data.length * e.at);
  return e.insert
    ? Buffer.concat([data.subarray(0, pos), xorshiftBytes(e.seed, e.count), data.subarray(pos)])
    : Buffer.concat([data.subarray(0, pos), data.subarray(pos + e.count)]);
}

async function digests(data: Buffer, algorithm: ChunkerAlgorithm, avg?: number): Promise<string[]> {
  return (await collect(chunkStream([data], { algorithm, avg }))).map(sha256);
}

async function changedChunks(
  original: Set<string>,
  edited: Buffer,
  algorithm: ChunkerAlgorithm,
  avg?: number,
): Promise<number> {
  return (await digests(edited, algorithm, avg)).filter((d) => !original.has(d)).length;
}

describe.each(algorithms)("%s: a small edit in the middle changes at most 3 chunks", (algorithm) => {
  it("64 MiB of random data at the default 4 MiB average", async () => {
    const data = xorshiftBytes(64, 64 << 20);
    const original = new Set(await digests(data, algorithm));
    expect(original.size).toBeGreaterThan(8);
    await fc.assert(
      fc.asyncProperty(edit, async (e) => {
        expect(await changedChunks(original, applyEdit(data, e), algorithm)).toBeLessThanOrEqual(3);
      }),
      { numRuns: 5 },
    );
  });

  it("4 MiB of random data at a 64 KiB average (the same property, more runs)", async () => {
    const avg = 64 * 1024;
    const data = xorshiftBytes(4, 4 << 20);
    const original = new Set(await digests(data, algorithm, avg));
    expect(original.size).toBeGreaterThan(30);
    await fc.assert(
      fc.asyncProperty(edit, async (e) => {
        expect(await changedChunks(original, applyEdit(data, e), algorithm, avg)).toBeLessThanOrEqual(3);
      }),
      { numRuns: 60 },
    );
  });
});
