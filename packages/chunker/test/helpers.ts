// Shared test helpers: deterministic data, splitting a buffer into pieces, collecting chunks.

import { createHash } from "node:crypto";
import { createScanner } from "../src/index.js";
import type { ChunkerAlgorithm } from "../src/index.js";

/** xorshift32 bytes, the same generator as the PBS reference vectors were made with. */
export function xorshiftBytes(seed: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Random, zero-run and repetitive-text segments, so properties see low-entropy data too. */
export function mixedBytes(seed: number, n: number): Buffer {
  const parts: Buffer[] = [];
  let total = 0;
  let s = seed >>> 0 || 1;
  while (total < n) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const len = Math.min(n - total, 1 + (s % (256 * 1024)));
    const kind = (s >>> 20) % 4;
    let part: Buffer;
    if (kind === 0) part = Buffer.alloc(len);
    else if (kind === 1) part = Buffer.alloc(len, `line ${s % 97} of some text\n`);
    else part = xorshiftBytes(s, len);
    parts.push(part);
    total += len;
  }
  return Buffer.concat(parts, n);
}

/**
 * Cuts `data` into consecutive pieces whose sizes cycle through `sizes`. Every other piece is a
 * view (at whatever alignment it falls), the others copies, so neither adjacency in memory nor
 * 4-byte alignment can leak into the results.
 */
export function splitBy(data: Uint8Array, sizes: number[]): Buffer[] {
  const pieces: Buffer[] = [];
  let pos = 0;
  for (let i = 0; pos < data.length; i++) {
    const size = Math.max(1, sizes[i % sizes.length]);
    const view = Buffer.from(data.buffer, data.byteOffset, data.length).subarray(pos, Math.min(data.length, pos + size));
    pieces.push(i % 2 === 0 ? view : Buffer.from(view));
    pos += size;
  }
  return pieces;
}

export async function* asAsync(pieces: Iterable<Uint8Array>): AsyncIterable<Uint8Array> {
  for (const piece of pieces) yield piece;
}

export async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const chunk of chunks) out.push(chunk);
  return out;
}

export function sizes(chunks: Uint8Array[]): number[] {
  return chunks.map((c) => c.length);
}

/** Chunk lengths found by a fresh scanner fed `pieces` in order, the last (partial) one included. */
export function scannerLengths(
  pieces: Uint8Array[],
  options: { avg?: number; algorithm?: ChunkerAlgorithm },
): number[] {
  const scanner = createScanner(options);
  const lengths: number[] = [];
  let current = 0;
  for (const piece of pieces) {
    let pos = 0;
    for (;;) {
      const end = scanner.scan(piece, pos);
      if (end < 0) {
        current += piece.length - pos;
        break;
      }
      lengths.push(current + end - pos);
      current = 0;
      pos = end;
    }
  }
  if (current > 0) lengths.push(current);
  return lengths;
}

export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
