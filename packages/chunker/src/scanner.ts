// The incremental boundary scanner: the low-level API under chunkStream (spec: chunker.md,
// "Content-defined"), for callers that manage their own buffers. One scanner follows one byte
// stream; it keeps the rolling-hash state between calls, so where a stream was split into
// buffers never changes where it cuts.

import { BuzhashScanner } from "./buzhash.js";
import { FastCdcScanner } from "./fastcdc.js";
import { type ChunkerOptions, type ResolvedChunkerOptions, resolveChunkerOptions } from "./params.js";

/**
 * Finds content-defined chunk boundaries in a stream fed to it piece by piece.
 *
 * Contract of `scan(bytes, start = 0)`:
 * - It consumes `bytes[start..]` as the next bytes of the stream, in order.
 * - If the current chunk ends inside them it returns `end`, an index into `bytes` with
 *   `start < end <= bytes.length`: the current chunk ends just before `bytes[end]` (its last byte
 *   is `bytes[end - 1]`). The scanner has then already reset itself to the start of the next
 *   chunk and has consumed nothing beyond `end`: continue with `scan(bytes, end)`.
 * - Otherwise it returns -1: all of `bytes[start..]` belongs to the current chunk; pass the next
 *   buffer. The scanner keeps what it needs (at most 64 bytes) by copy, so the caller may reuse
 *   `bytes` afterwards.
 * - At the end of the stream the bytes since the last boundary (`chunkLength` of them) are the
 *   last chunk, which may be shorter than `min`. Call `reset()` before starting another stream.
 */
export interface BoundaryScanner {
  /** Algorithm and sizes in force; record them in the index or manifest. */
  readonly params: ResolvedChunkerOptions;
  /** Bytes consumed since the last boundary, i.e. the length so far of the current chunk. */
  readonly chunkLength: number;
  scan(bytes: Uint8Array, start?: number): number;
  /** Forget the current chunk and start a new stream. */
  reset(): void;
}

/** A scanner for `{avg, algorithm}` (defaults: 4 MiB, DEFAULT_ALGORITHM); throws ERR_CHUNKER_PARAMS. */
export function createScanner(options: ChunkerOptions = {}): BoundaryScanner {
  const params = resolveChunkerOptions(options);
  return params.algorithm === "buzhash" ? new BuzhashScanner(params) : new FastCdcScanner(params);
}
