import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ChunkerAlgorithm, chunkerParams, chunkStream, createScanner } from "../src/index.js";
import { collect, mixedBytes, scannerLengths, sizes, xorshiftBytes } from "./helpers.js";

const algorithms: ChunkerAlgorithm[] = ["buzhash", "fastcdc"];
const AVG = 64 * 1024;

describe.each(algorithms)("%s scanner", (algorithm) => {
  it("returns the end of the current chunk within the call's bytes, or -1, and resets itself", () => {
    const { min, max } = chunkerParams(AVG);
    const data = xorshiftBytes(9, 4 << 20);
    const scanner = createScanner({ algorithm, avg: AVG });
    let pos = 0;
    let cuts = 0;
    for (;;) {
      const end = scanner.scan(data, pos);
      if (end < 0) break;
      expect(end).toBeGreaterThan(pos);
      expect(end - pos).toBeGreaterThanOrEqual(min);
      expect(end - pos).toBeLessThanOrEqual(max);
      expect(scanner.chunkLength).toBe(0);
      pos = end;
      cuts++;
    }
    expect(cuts).toBeGreaterThan(10);
    expect(scanner.chunkLength).toBe(data.length - pos);
  });

  it("gives the same boundaries as chunkStream", async () => {
    const data = mixedBytes(77, 3 << 20);
    const streamed = sizes(await collect(chunkStream([data], { algorithm, avg: AVG })));
    expect(scannerLengths([data], { algorithm, avg: AVG })).toEqual(streamed);
  });

  it("keeps no reference to a buffer after returning -1, so callers may reuse it", () =>
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 0x7fffffff }), fc.integer({ min: 1, max: 70_000 }), (seed, pieceSize) => {
        const data = mixedBytes(seed, 1 << 20);
        const expected = scannerLengths([data], { algorithm, avg: AVG });
        const scanner = createScanner({ algorithm, avg: AVG });
        const reused = Buffer.alloc(pieceSize);
        const lengths: number[] = [];
        let current = 0;
        for (let off = 0; off < data.length; off += pieceSize) {
          const n = data.copy(reused, 0, off, off + pieceSize);
          const piece = reused.subarray(0, n);
          let pos = 0;
          for (;;) {
            const end = scanner.scan(piece, pos);
            if (end < 0) {
              current += n - pos;
              break;
            }
            lengths.push(current + end - pos);
            current = 0;
            pos = end;
          }
          reused.fill(0xa5); // scribble over it: the scanner must have copied what it needs
        }
        if (current > 0) lengths.push(current);
        expect(lengths).toEqual(expected);
      }),
      { numRuns: 10 },
    ));

  it("finds the same boundaries whatever the alignment of the buffer in memory", () => {
    const data = mixedBytes(31, 3 << 20);
    const expected = scannerLengths([data], { algorithm, avg: AVG });
    for (const shift of [1, 2, 3, 5]) {
      const backing = Buffer.alloc(data.length + shift);
      data.copy(backing, shift);
      const shifted = backing.subarray(shift);
      expect(shifted.byteOffset % 4).not.toBe(data.byteOffset % 4);
      expect(scannerLengths([shifted], { algorithm, avg: AVG })).toEqual(expected);
    }
  });

  it("rejects a start outside the bytes with ERR_CHUNKER_INPUT", () => {
    const scanner = createScanner({ algorithm, avg: AVG });
    for (const start of [-1, 11, 0.5]) {
      expect(() => scanner.scan(new Uint8Array(10), start)).toThrow(expect.objectContaining({ code: "ERR_CHUNKER_INPUT" }));
    }
    expect(scanner.scan(new Uint8Array(10), 10)).toBe(-1);
  });

  it("after reset() starts a new stream as a fresh scanner would", () => {
    const a = xorshiftBytes(1, 300_000);
    const b = xorshiftBytes(2, 2 << 20);
    const scanner = createScanner({ algorithm, avg: AVG });
    expect(scanner.scan(a.subarray(0, 1000))).toBe(-1);
    scanner.reset();
    expect(scanner.chunkLength).toBe(0);
    const fresh = createScanner({ algorithm, avg: AVG });
    expect(scanner.scan(b)).toBe(fresh.scan(b));
  });
});

describe("chunkStream", () => {
  it.each(algorithms)("%s yields views of the input when a chunk lies in one buffer", async (algorithm) => {
    const data = xorshiftBytes(8, 2 << 20);
    const chunks = await collect(chunkStream([data], { algorithm, avg: AVG }));
    expect(chunks.length).toBeGreaterThan(5);
    for (const chunk of chunks) expect(chunk.buffer).toBe(data.buffer);
  });
});
