// Views a source piece as a Buffer without copying, and rejects what is not bytes with a typed
// error instead of a TypeError from deep inside a hot loop.

import { ChunkerError } from "../errors.js";

export function toBuffer(piece: unknown): Buffer {
  if (Buffer.isBuffer(piece)) return piece;
  if (piece instanceof Uint8Array) return Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
  throw new ChunkerError(
    "ERR_CHUNKER_INPUT",
    `chunker source must yield Uint8Array pieces, got ${piece === null ? "null" : typeof piece}`,
  );
}

/** Joins the pieces of one chunk; a single piece is returned as is (no copy). */
export function joinPieces(pieces: Buffer[], total: number): Buffer {
  return pieces.length === 1 ? pieces[0] : Buffer.concat(pieces, total);
}
