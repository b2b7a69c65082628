import { describe, expect, it } from "vitest";
import {
  ChunkerError,
  chunkerParams,
  chunkStream,
  createScanner,
  DEFAULT_ALGORITHM,
  DEFAULT_AVG,
  resolveChunkerOptions,
} from "../src/index.js";
import type { ChunkerAlgorithm } from "../src/index.js";
import { collect } from "./helpers.js";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ChunkerError);
    return (e as ChunkerError).code;
  }
  return undefined;
}

describe("chunker parameters", () => {
  it("resolve to min = avg/4 and max = avg*4, 4 MiB by default", () => {
    expect(chunkerParams()).toEqual({ min: 1 << 20, avg: 4 << 20, max: 16 << 20 });
    expect(chunkerParams(64 * 1024)).toEqual({ min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024 });
    expect(chunkerParams(16 << 20)).toEqual({ min: 4 << 20, avg: 16 << 20, max: 64 << 20 });
    expect(DEFAULT_AVG).toBe(4 << 20);
  });

  it("record the algorithm with the sizes, for the manifest", () => {
    expect(resolveChunkerOptions()).toEqual({ algorithm: DEFAULT_ALGORITHM, min: 1 << 20, avg: 4 << 20, max: 16 << 20 });
    expect(createScanner({ algorithm: "buzhash", avg: 1 << 20 }).params).toEqual({
      algorithm: "buzhash",
      min: 256 * 1024,
      avg: 1 << 20,
      max: 4 << 20,
    });
  });

  it.each([0, 3, 100_000, 32 * 1024, 32 << 20, -65536, 65536.5, Number.NaN])(
    "reject avg %s with ERR_CHUNKER_PARAMS",
    (avg) => {
      expect(codeOf(() => chunkerParams(avg))).toBe("ERR_CHUNKER_PARAMS");
      expect(codeOf(() => createScanner({ avg }))).toBe("ERR_CHUNKER_PARAMS");
    },
  );

  it("reject an unknown algorithm with ERR_CHUNKER_PARAMS naming it", () => {
    try {
      createScanner({ algorithm: "rabin" as ChunkerAlgorithm });
      expect.unreachable();
    } catch (e) {
      expect((e as ChunkerError).code).toBe("ERR_CHUNKER_PARAMS");
      expect((e as ChunkerError).message).toContain('"rabin"');
    }
  });

  it("a source that yields something other than bytes fails with ERR_CHUNKER_INPUT", async () => {
    const err = await collect(chunkStream(["text" as unknown as Uint8Array])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChunkerError);
    expect((err as ChunkerError).code).toBe("ERR_CHUNKER_INPUT");
  });
});
