// PBS's Buzhash chunker (spec: chunker.md, "Content-defined"; PBS pbs-datastore/src/chunker.rs):
// a 64-byte window, a 32-bit hash rotated left by one per byte, PBS's table of 256 u32, a cut after
// the byte where `(h & m) >= m - 2`, m = 2*avg - 1, and chunk sizes in [avg/4, avg*4]. Boundaries
// equal PBS's for the same bytes and avg (test/buzhash-matches-pbs.test.ts).

import { BUZHASH_TABLE } from "./internal/buzhash-table.js";
import type { ResolvedChunkerOptions } from "./params.js";
import { badStart } from "./errors.js";
import type { BoundaryScanner } from "./scanner.js";
import type { HashState } from "./internal/hash-state.js";
import { bytesToAlignment, LITTLE_ENDIAN } from "./internal/words.js";

/** Bytes in the rolling window. 64 = 2 * 32, so a byte's contribution is rotated back into place
 * when it leaves and is removed by a plain XOR of its table entry. */
export const BUZHASH_WINDOW = 64;

/**
 * Why skipping is exact: PBS resets the hash at every boundary and rolls it over a 64-byte window,
 * so at chunk length L >= 64 the hash is a function of the last 64 bytes only. PBS tests a cut only
 * once L >= min, so hashing may start at chunk offset min - 64 and give PBS's hash at every tested
 * position, while the first min - 64 bytes of each chunk are never read.
 */
export class BuzhashScanner implements BoundaryScanner {
  readonly params: ResolvedChunkerOptions;
  private readonly min: number;
  private readonly max: number;
  private readonly mask: number;
  private readonly threshold: number;
  /** Where hashing starts within a chunk. */
  private readonly hashFrom: number;
  /** The byte at chunk offset o is kept at window[o & 63], for windows that straddle two calls. */
  private readonly window = new Uint8Array(BUZHASH_WINDOW);
  /** Hash between calls; an object so the hot-loop helper can hand it back. */
  private readonly state: HashState = { h: 0 };
  private length = 0;

  constructor(params: ResolvedChunkerOptions) {
    this.params = params;
    this.min = params.min;
    this.max = params.max;
    this.mask = params.avg * 2 - 1;
    // Not `(h & m) === 0`: a run of one repeated byte has hash 0, and it must never cut.
    this.threshold = this.mask - 2;
    this.hashFrom = params.min - BUZHASH_WINDOW;
  }

  get chunkLength(): number {
    return this.length;
  }

  reset(): void {
    this.state.h = 0;
    this.length = 0;
  }

  scan(bytes: Uint8Array, start = 0): number {
    const n = bytes.length;
    if (!Number.isInteger(start) || start < 0 || start > n) throw badStart(start, n);
    let pos = start;
    let len = this.length;

    // 1. The first min - 64 bytes of a chunk can neither cut nor reach a tested hash.
    if (len < this.hashFrom) {
      const skip = Math.min(this.hashFrom - len, n - pos);
      pos += skip;
      len += skip;
      if (len < this.hashFrom) {
        this.length = len;
        return -1;
      }
    }

    const T = BUZHASH_TABLE;
    const window = this.window;
    const mask = this.mask;
    const threshold = this.threshold;
    let h = this.state.h;

    // 2. Fill the window (chunk offsets min-64 .. min-1); PBS's first test is at length min.
    if (len < this.min) {
      const end = Math.min(n, pos + (this.min - len));
      while (pos < end) {
        const b = bytes[pos++];
        h = ((h << 1) | (h >>> 31)) ^ T[b];
        window[len & 63] = b;
        len++;
      }
      if (len < this.min) {
        this.state.h = h;
        this.length = len;
        return -1;
      }
      if ((h & mask) >= threshold) return this.cut(pos);
    }

    // 3. Roll up to length max. The leaving byte is in `bytes` once 64 bytes of this call have
    // been consumed (the hot loop); before that it is in the window.
    const limit = Math.min(n, pos + (this.max - len));
    const fromWindow = Math.min(limit, start + BUZHASH_WINDOW);
    const rollStart = pos;
    while (pos < fromWindow) {
      h = ((h << 1) | (h >>> 31)) ^ T[window[(len + pos - rollStart) & 63]] ^ T[bytes[pos]];
      pos++;
      if ((h & mask) >= threshold) return this.cut(pos);
    }
    if (pos < limit) {
      const cut = buzhashFind(bytes, pos, limit, h, mask, threshold, this.state);
      if (cut >= 0) return this.cut(cut);
      h = this.state.h;
      pos = limit;
    }
    len += pos - rollStart;
    if (len >= this.max) return this.cut(pos);

    // Out of input: keep the last 64 bytes for the windows of the next call.
    for (let i = Math.max(start, n - BUZHASH_WINDOW); i < n; i++) window[(len - (n - i)) & 63] = bytes[i];
    this.state.h = h;
    this.length = len;
    return -1;
  }

  private cut(end: number): number {
    this.state.h = 0;
    this.length = 0;
    return end;
  }
}

/**
 * The hot loop, in a function of its own so V8 optimizes it once with feedback for every path.
 * Needs pos >= 64 within `bytes` (the leaving byte is bytes[pos - 64]). Returns the index just
 * after the first byte where the hash passes the boundary test, or -1 with out.h set.
 */
function buzhashFind(
  bytes: Uint8Array,
  pos: number,
  end: number,
  h: number,
  mask: number,
  threshold: number,
  out: HashState,
): number {
  const T = BUZHASH_TABLE;
  if (LITTLE_ENDIAN && end - pos >= 128) {
    for (let head = bytesToAlignment(bytes, pos); head > 0; head--) {
      h = ((h << 1) | (h >>> 31)) ^ T[bytes[pos - BUZHASH_WINDOW]] ^ T[bytes[pos]];
      pos++;
      if ((h & mask) >= threshold) return pos;
    }
    // 64 is a multiple of 4, so leaving bytes are word-aligned too: 16 words behind.
    const count = (end - pos) >>> 2;
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset + pos - BUZHASH_WINDOW, count + 16);
    const cut = buzhashFindInWords(words, h, mask, threshold, out);
    if (cut >= 0) return pos + cut;
    h = out.h;
    pos += count << 2;
  }
  while (pos < end) {
    h = ((h << 1) | (h >>> 31)) ^ T[bytes[pos - BUZHASH_WINDOW]] ^ T[bytes[pos]];
    pos++;
    if ((h & mask) >= threshold) return pos;
  }
  out.h = h;
  return -1;
}

/** Words 0..15 hold the window before the first entering word (16); returns a byte count past word 16. */
function buzhashFindInWords(words: Uint32Array, h: number, mask: number, threshold: number, out: HashState): number {
  const T = BUZHASH_TABLE;
  const n = words.length;
  for (let i = 16; i < n; i++) {
    const w = words[i];
    const l = words[i - 16];
    h = ((h << 1) | (h >>> 31)) ^ T[l & 255] ^ T[w & 255];
    if ((h & mask) >= threshold) return ((i - 16) << 2) + 1;
    h = ((h << 1) | (h >>> 31)) ^ T[(l >>> 8) & 255] ^ T[(w >>> 8) & 255];
    if ((h & mask) >= threshold) return ((i - 16) << 2) + 2;
    h = ((h << 1) | (h >>> 31)) ^ T[(l >>> 16) & 255] ^ T[(w >>> 16) & 255];
    if ((h & mask) >= threshold) return ((i - 16) << 2) + 3;
    h = ((h << 1) | (h >>> 31)) ^ T[l >>> 24] ^ T[w >>> 24];
    if ((h & mask) >= threshold) return ((i - 16) << 2) + 4;
  }
  out.h = h;
  return -1;
}
