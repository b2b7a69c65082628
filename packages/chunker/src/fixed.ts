// fixedChunkStream: fixed-size chunks for images and block devices (spec: chunker.md, "Fixed"),
// 4 MiB by default, the last one short; used with fixed indexes (.fidx). Same no-copy rule as
// chunkStream: a chunk within one source buffer is a view of it.

import { fixedChunkSize } from "./params.js";
import { joinPieces, toBuffer } from "./internal/to-buffer.js";

export interface FixedChunkOptions {
  /** Chunk size in bytes, a positive integer; default 4 MiB. */
  size?: number;
}

/** Splits `source` into chunks of exactly `size` bytes, in order; only the last may be shorter. */
export function fixedChunkStream(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: FixedChunkOptions = {},
): AsyncIterable<Buffer> {
  // Validated here, not in the generator, so a bad size throws at the call.
  return fixedChunks(source, fixedChunkSize(options.size));
}

async function* fixedChunks(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  size: number,
): AsyncIterable<Buffer> {
  let pieces: Buffer[] = [];
  let pending = 0;
  for await (const piece of source) {
    const buf = toBuffer(piece);
    let pos = 0;
    while (buf.length - pos >= size - pending) {
      const end = pos + size - pending;
      if (pending === 0) {
        yield buf.subarray(pos, end);
      } else {
        pieces.push(buf.subarray(pos, end));
        const chunk = joinPieces(pieces, size);
        pieces = [];
        pending = 0;
        yield chunk;
      }
      pos = end;
    }
    if (pos < buf.length) {
      pieces.push(pos === 0 ? buf : buf.subarray(pos));
      pending += buf.length - pos;
    }
  }
  if (pending > 0) yield joinPieces(pieces, pending);
}
