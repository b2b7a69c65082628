// Reading four bytes with one aligned Uint32Array load is about 1.4x faster in V8 than four
// Uint8Array loads (bench/run.mjs); the hot loops use it on little-endian machines, where the
// first byte of a stream is the low byte of its word. Elsewhere they read bytes one by one.

export const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** Bytes from `bytes[pos]` up to the next 4-byte-aligned address (0..3). */
export function bytesToAlignment(bytes: Uint8Array, pos: number): number {
  return (4 - ((bytes.byteOffset + pos) & 3)) & 3;
}
