// chunkStream: content-defined chunks of an async byte stream (spec: chunker.md), for file
// archives. A chunk that lies within one source buffer is yielded as a view of it (no copy);
// only a chunk that spans buffers is copied, once, when it is complete.

import type { ChunkerOptions } from "./params.js";
import { type BoundaryScanner, createScanner } from "./scanner.js";
import { joinPieces, toBuffer } from "./internal/to-buffer.js";

/**
 * Splits `source` into content-defined chunks, in order; their concatenation is the input.
 * Chunks may be views of the source's buffers, so the source must not modify a buffer after
 * yielding it (fs and network streams never do).
 */
export function chunkStream(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: ChunkerOptions = {},
): AsyncIterable<Buffer> {
  // Created here, not in the generator, so bad options throw at the call.
  return chunks(source, createScanner(options));
}

async function* chunks(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  scanner: BoundaryScanner,
): AsyncIterable<Buffer> {
  let pieces: Buffer[] = [];
  let pending = 0;
  for await (const piece of source) {
    const buf = toBuffer(piece);
    let pos = 0;
    while (pos < buf.length) {
      const end = scanner.scan(buf, pos);
      if (end < 0) {
        pieces.push(pos === 0 ? buf : buf.subarray(pos));
        pending += buf.length - pos;
        break;
      }
      if (pending === 0) {
        yield buf.subarray(pos, end);
      } else {
        pieces.push(buf.subarray(pos, end));
        const chunk = joinPieces(pieces, pending + end - pos);
        pieces = [];
        pending = 0;
        yield chunk;
      }
      pos = end;
    }
  }
  if (pending > 0) yield joinPieces(pieces, pending);
}
