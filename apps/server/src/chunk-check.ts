// The checks an uploaded chunk must pass before it may enter the store (spec: datastore.md
// "Inserting a chunk"): declared encoded size, size limits, CRC, and for plain chunks the
// decoded size and SHA-256 digest. Runs inside the verification workers; pure and synchronous.

import { createHash } from "node:crypto";
import { decodeBlob, isFormatError } from "@cairn/format";
import { MAX_CHUNK_ENCODED_SIZE, MAX_CHUNK_SIZE } from "@cairn/protocol";

export interface ChunkCheckRequest {
  digest: string;
  size: number;
  encodedSize: number;
  blob: Uint8Array;
}

export type ChunkCheckResult = { ok: true; encrypted: boolean } | { ok: false; code: string; message: string };

let scratch: Buffer | undefined;

function scratchFor(size: number): Buffer | undefined {
  if (size > MAX_CHUNK_SIZE) return undefined;
  if (scratch === undefined || scratch.length < size) scratch = Buffer.allocUnsafeSlow(Math.max(size, 4 << 20));
  return scratch;
}

export function checkChunk(req: ChunkCheckRequest): ChunkCheckResult {
  const { digest, size, encodedSize } = req;
  // A Buffer view (no copy): after a worker transfer the bytes arrive as a plain Uint8Array.
  const blob = Buffer.isBuffer(req.blob) ? req.blob : Buffer.from(req.blob.buffer, req.blob.byteOffset, req.blob.length);
  if (size > MAX_CHUNK_SIZE || blob.length > MAX_CHUNK_ENCODED_SIZE) {
    return { ok: false, code: "ERR_CHUNK_TOO_LARGE", message: `chunk ${digest} too large: ${size} plain / ${blob.length} encoded bytes (limit ${MAX_CHUNK_SIZE})` };
  }
  if (blob.length !== encodedSize) {
    return { ok: false, code: "ERR_CHUNK_SIZE", message: `chunk ${digest}: declared encoded size ${encodedSize}, received ${blob.length} bytes` };
  }
  // One pass: decodeBlob checks magic and CRC before anything else, so the CRC is computed once.
  // An encrypted chunk stops at ERR_BLOB_NEEDS_KEY after its CRC passed: its key is the client's.
  let data: Buffer;
  try {
    // Decoded only to be hashed: into a reused scratch buffer, not a fresh one per chunk.
    data = decodeBlob(blob, { into: scratchFor(size) });
  } catch (err) {
    if (isFormatError(err, "ERR_BLOB_NEEDS_KEY")) return { ok: true, encrypted: true };
    if (isFormatError(err, "ERR_BLOB_CRC")) return { ok: false, code: "ERR_CHUNK_CRC", message: `chunk ${digest}: ${err.message}` };
    if (isFormatError(err, "ERR_BLOB_MAGIC") || isFormatError(err, "ERR_BLOB_SHORT")) {
      return { ok: false, code: "ERR_CHUNK_FORMAT", message: `chunk ${digest} is not a data blob: ${err.message}` };
    }
    return { ok: false, code: "ERR_CHUNK_FORMAT", message: `chunk ${digest} does not decode: ${(err as Error).message}` };
  }
  if (data.length !== size) {
    return { ok: false, code: "ERR_CHUNK_SIZE", message: `chunk ${digest}: declared size ${size}, decodes to ${data.length} bytes` };
  }
  const actual = createHash("sha256").update(data).digest("hex");
  if (actual !== digest) {
    return { ok: false, code: "ERR_CHUNK_DIGEST", message: `chunk data has digest ${actual}, uploaded as ${digest}` };
  }
  return { ok: true, encrypted: false };
}
