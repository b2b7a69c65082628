// Chunk size parameters (spec: chunker.md, "Content-defined" and "Fixed"): avg is a power of
// two in [64 KiB, 16 MiB], min = avg/4, max = avg*4. These, with the algorithm name, are what a
// caller records in an index or manifest so that a later backup of the same group chunks alike.

import { ChunkerError } from "./errors.js";

export type ChunkerAlgorithm = "buzhash" | "fastcdc";

export const ALGORITHMS: readonly ChunkerAlgorithm[] = ["buzhash", "fastcdc"];

export const KiB = 1024;
export const MiB = 1024 * KiB;

export const DEFAULT_AVG = 4 * MiB;
export const MIN_AVG = 64 * KiB;
export const MAX_AVG = 16 * MiB;
export const DEFAULT_FIXED_SIZE = 4 * MiB;
/** Decided by `pnpm bench`; the README has the figures behind it. */
export const DEFAULT_ALGORITHM: ChunkerAlgorithm = "fastcdc";

export interface ChunkerParams {
  readonly min: number;
  readonly avg: number;
  readonly max: number;
}

export interface ChunkerOptions {
  /** Average chunk size in bytes: a power of two in [64 KiB, 16 MiB]; default 4 MiB. */
  avg?: number;
  /** "buzhash" (PBS-compatible) or "fastcdc" (gear); default DEFAULT_ALGORITHM. */
  algorithm?: ChunkerAlgorithm;
}

export interface ResolvedChunkerOptions extends ChunkerParams {
  readonly algorithm: ChunkerAlgorithm;
}

function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** The resolved {min, avg, max} for an average size; throws ERR_CHUNKER_PARAMS when avg is invalid. */
export function chunkerParams(avg: number = DEFAULT_AVG): ChunkerParams {
  if (typeof avg !== "number" || !isPowerOfTwo(avg) || avg < MIN_AVG || avg > MAX_AVG) {
    throw new ChunkerError(
      "ERR_CHUNKER_PARAMS",
      `chunker avg must be a power of two between ${MIN_AVG} (64 KiB) and ${MAX_AVG} (16 MiB), got ${String(avg)}`,
    );
  }
  return Object.freeze({ min: avg / 4, avg, max: avg * 4 });
}

/** Validates options and fills in the defaults; the result is what a manifest should record. */
export function resolveChunkerOptions(options: ChunkerOptions = {}): ResolvedChunkerOptions {
  const algorithm = options.algorithm ?? DEFAULT_ALGORITHM;
  if (!ALGORITHMS.includes(algorithm)) {
    throw new ChunkerError(
      "ERR_CHUNKER_PARAMS",
      `chunker algorithm must be one of ${ALGORITHMS.join(", ")}, got ${JSON.stringify(algorithm)}`,
    );
  }
  return Object.freeze({ algorithm, ...chunkerParams(options.avg ?? DEFAULT_AVG) });
}

/** Validates a fixed chunk size (a positive integer, default 4 MiB). */
export function fixedChunkSize(size: number = DEFAULT_FIXED_SIZE): number {
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size <= 0) {
    throw new ChunkerError("ERR_CHUNKER_PARAMS", `fixed chunk size must be a positive integer, got ${String(size)}`);
  }
  return size;
}
