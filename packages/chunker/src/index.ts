// @cairn/chunker: splits byte streams into chunks (spec: /work/shared/spec/chunker.md).
//
// Glossary
// - chunk: a run of consecutive stream bytes, stored once and named by its SHA-256 (by callers).
// - boundary: the position just after a chunk's last byte; the next chunk starts there.
// - content-defined chunking: a rolling hash over the last few bytes decides boundaries, so an
//   insert or delete moves only the boundaries near it. Algorithms: "buzhash" (PBS's, exact) and
//   "fastcdc" (a gear hash with normalized chunking, faster in JS). Used for file archives.
// - fixed chunking: every chunk `size` bytes but the last. Used for images and block devices.
// - params {min, avg, max}: avg a power of two in [64 KiB, 16 MiB], min = avg/4, max = avg*4.
// - scanner: the incremental boundary finder under chunkStream, for callers with own buffers.
//
// Invariants
// - Boundaries depend only on the bytes, the algorithm and avg: never on how the input was split
//   into buffers, nor on the thread or process that chunks it (no global mutable state).
// - Every chunk but the last has a size in [min, max]; concatenating the chunks gives the input.
// - A long run of one repeated byte (e.g. zeros) is cut into max-size chunks by both algorithms.
// - Changing a table, mask or window changes boundaries and so breaks dedup with old backups:
//   record {algorithm, min, avg, max} with each index and reuse them for the next backup.

export { chunkStream } from "./chunk-stream.js";
export { type FixedChunkOptions, fixedChunkStream } from "./fixed.js";
export { type BoundaryScanner, createScanner } from "./scanner.js";
export { BUZHASH_WINDOW, BuzhashScanner } from "./buzhash.js";
export { FastCdcScanner, GEAR_WINDOW } from "./fastcdc.js";
export { ChunkerError, type ChunkerErrorCode } from "./errors.js";
export {
  ALGORITHMS,
  type ChunkerAlgorithm,
  type ChunkerOptions,
  type ChunkerParams,
  chunkerParams,
  DEFAULT_ALGORITHM,
  DEFAULT_AVG,
  DEFAULT_FIXED_SIZE,
  fixedChunkSize,
  MAX_AVG,
  MIN_AVG,
  type ResolvedChunkerOptions,
  resolveChunkerOptions,
} from "./params.js";
