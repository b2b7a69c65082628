import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ChunkerError, fixedChunkStream } from "../src/index.js";
import { asAsync, collect, sizes, splitBy, xorshiftBytes } from "./helpers.js";

describe("fixed chunking", () => {
  it("gives chunks of exactly `size` bytes, the last one short, whatever the split", () =>
    fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 300_000 }),
        fc.integer({ min: 1, max: 70_000 }),
        fc.array(fc.integer({ min: 1, max: 100_000 }), { minLength: 1, maxLength: 6 }),
        async (length, size, pieceSizes) => {
          const data = xorshiftBytes(length + 1, length);
          const chunks = await collect(fixedChunkStream(asAsync(splitBy(data, pieceSizes)), { size }));
          const full = Math.floor(length / size);
          const rest = length % size;
          expect(sizes(chunks)).toEqual([...Array(full).fill(size), ...(rest > 0 ? [rest] : [])]);
          expect(Buffer.concat(chunks).equals(data)).toBe(true);
        },
      ),
      { numRuns: 100 },
    ));

  it("defaults to 4 MiB", async () => {
    const chunks = await collect(fixedChunkStream([Buffer.alloc((9 << 20) + 1)]));
    expect(sizes(chunks)).toEqual([4 << 20, 4 << 20, (1 << 20) + 1]);
  });

  it("yields views of the input, not copies, when a chunk lies in one buffer", async () => {
    const data = xorshiftBytes(3, 10_000);
    const chunks = await collect(fixedChunkStream([data], { size: 4096 }));
    for (const chunk of chunks) expect(chunk.buffer).toBe(data.buffer);
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])("rejects size %s with ERR_CHUNKER_PARAMS", (size) => {
    let err: unknown;
    try {
      fixedChunkStream([Buffer.alloc(1)], { size });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ChunkerError);
    expect((err as ChunkerError).code).toBe("ERR_CHUNKER_PARAMS");
    expect((err as ChunkerError).message).toContain(String(size));
  });
});
