// zstd level 1 through zstd-napi's low-level binding. One compression and one decompression
// context are reused for the life of the process: creating a context per call costs more than
// compressing a small chunk. Decompression is bounded so a crafted frame cannot allocate more
// than the caller's limit (the blob payload limit).

import { createRequire } from "node:module";
import { FormatError } from "../errors.js";

type Binding = typeof import("zstd-napi/binding.js");
const binding = createRequire(import.meta.url)("zstd-napi/binding.js") as Binding;

export const ZSTD_LEVEL = 1;

const STREAM_OUT = 1 << 20;
// Keep a scratch buffer up to this size between calls; larger inputs get a temporary one.
const SCRATCH_KEEP = 17 << 20;

let cctx: InstanceType<Binding["CCtx"]> | undefined;
let dctx: InstanceType<Binding["DCtx"]> | undefined;
let scratch: Buffer | undefined;

/**
 * Compresses `data` at level 1 and returns the compressed bytes only when they are strictly
 * smaller than the input (the PBS rule), else undefined. The returned view may point into a
 * reused scratch buffer: copy or consume it before the next call.
 */
export function compressIfSmaller(data: Uint8Array, level: number = ZSTD_LEVEL): Buffer | undefined {
  if (!Number.isInteger(level) || level < -7 || level > 19) {
    throw new FormatError("ERR_BLOB_LEVEL", `zstd level must be an integer from -7 to 19, got ${String(level)}`);
  }
  if (data.length < 2) return undefined;
  cctx ??= new binding.CCtx();
  // A full compressBound-sized destination: the zstd manual notes compression runs faster when
  // dstCapacity >= ZSTD_compressBound(srcSize), since no step has to guard against running out.
  const cap = binding.compressBound(data.length);
  let dst: Buffer;
  if (cap <= SCRATCH_KEEP) {
    if (scratch === undefined || scratch.length < cap) scratch = Buffer.allocUnsafe(Math.max(cap, 1 << 16));
    dst = scratch;
  } else {
    dst = Buffer.allocUnsafe(cap);
  }
  let n: number;
  try {
    n = cctx.compress(dst.subarray(0, cap), data, level);
  } catch {
    // Should not happen with a bound-sized buffer; storing uncompressed is always valid.
    return undefined;
  }
  return n < data.length ? dst.subarray(0, n) : undefined;
}

/**
 * Decompresses one or more zstd frames, refusing output larger than `limit` bytes. With `into`,
 * a frame whose declared size fits is decompressed into it and a view of it is returned.
 */
export function decompressBounded(src: Uint8Array, limit: number, into?: Buffer): Buffer {
  let size: number | null;
  try {
    size = binding.getFrameContentSize(src);
  } catch (err) {
    throw new FormatError("ERR_BLOB_DECOMPRESS", "zstd payload has no valid frame header", { cause: err });
  }
  if (size !== null && size > limit) {
    throw new FormatError("ERR_BLOB_TOO_LARGE", `zstd frame declares ${size} bytes, more than the limit of ${limit}`);
  }
  if (size === null) return decompressStreaming(src, limit);
  dctx ??= new binding.DCtx();
  const out = into !== undefined && into.length >= size ? into.subarray(0, size) : Buffer.allocUnsafe(size);
  let n: number;
  try {
    n = dctx.decompress(out, src);
  } catch (err) {
    throw new FormatError("ERR_BLOB_DECOMPRESS", `zstd payload is corrupt: ${(err as Error).message}`, { cause: err });
  }
  if (n !== size) {
    throw new FormatError("ERR_BLOB_DECOMPRESS", `zstd frame declared ${size} bytes but produced ${n}`);
  }
  return out;
}

// Frames without a content size (not written by PBS or cairn, but legal zstd) are decoded in
// pieces so the limit is enforced while decoding, not after.
function decompressStreaming(src: Uint8Array, limit: number): Buffer {
  const ctx = new binding.DCtx();
  const parts: Buffer[] = [];
  let total = 0;
  let input = src;
  let frameOpen = true;
  try {
    for (;;) {
      const out = Buffer.allocUnsafe(STREAM_OUT);
      const [remaining, written, consumed] = ctx.decompressStream(out, input);
      input = input.subarray(consumed);
      if (written > 0) {
        total += written;
        if (total > limit) {
          throw new FormatError("ERR_BLOB_TOO_LARGE", `zstd payload expands beyond the limit of ${limit} bytes`);
        }
        parts.push(out.subarray(0, written));
      }
      frameOpen = remaining !== 0;
      if (!frameOpen && input.length === 0) break;
      if (written === 0 && consumed === 0) break;
    }
  } catch (err) {
    if (err instanceof FormatError) throw err;
    throw new FormatError("ERR_BLOB_DECOMPRESS", `zstd payload is corrupt: ${(err as Error).message}`, { cause: err });
  }
  if (frameOpen || input.length > 0) {
    throw new FormatError("ERR_BLOB_DECOMPRESS", "zstd payload is truncated");
  }
  return Buffer.concat(parts, total);
}
