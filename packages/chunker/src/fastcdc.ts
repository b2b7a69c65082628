// The FastCDC-style gear chunker (spec: chunker.md, "Content-defined"): h = (h << 1) + G[byte],
// one table look-up per byte and nothing to subtract; normalized chunking (a cut needs the top
// log2(avg)+2 bits of h zero below the normal size 3/4*avg, the top log2(avg)-2 bits from there
// on); sizes in [avg/4, avg*4]; the first min - 32 bytes of every chunk are skipped unhashed.

import { GEAR_TABLE } from "./internal/gear-table.js";
import type { ResolvedChunkerOptions } from "./params.js";
import { badStart } from "./errors.js";
import type { BoundaryScanner } from "./scanner.js";
import type { HashState } from "./internal/hash-state.js";
import { bytesToAlignment, LITTLE_ENDIAN } from "./internal/words.js";

/** A byte shifted left 32 times has left the 32-bit hash: h depends on the last 32 bytes only. */
export const GEAR_WINDOW = 32;

/** Normalization level: mask bits added below the normal size and removed from it on. */
const NORMALIZATION = 2;

/**
 * The normal size, where the easy mask takes over: avg - min = 3/4 * avg. With the classic
 * choice (avg itself) the skipped minimum pushes the mean to about 1.1 * avg; at 3/4 * avg it is
 * about 0.94 * avg, next to Buzhash's 0.92 * avg, so both algorithms give about the same number
 * of chunks for the same recorded avg and their dedup figures compare like for like.
 */
function normalSize(avg: number): number {
  return avg - avg / 4;
}

/** A mask of the top `bits` bits of an int32: the top bits are the ones mixed from the most bytes. */
function topBits(bits: number): number {
  return bits >= 32 ? -1 : ~(-1 >>> bits);
}

/**
 * Why skipping is exact: because h depends on the last 32 bytes only, starting hashing at chunk
 * offset min - 32 gives at every tested length (>= min) the same h as hashing the whole chunk,
 * or the whole stream. So the cut after a byte depends on that byte's 32-byte window and on the
 * chunk length, nothing else.
 *
 * Why a run of one repeated byte c never cuts: after 32 bytes of c, h = -G[c] mod 2^32. Every
 * G entry lies in [1, 2^31], so that value has bit 31 set, and both masks include bit 31.
 */
export class FastCdcScanner implements BoundaryScanner {
  readonly params: ResolvedChunkerOptions;
  private readonly normal: number;
  private readonly max: number;
  private readonly maskSmall: number;
  private readonly maskLarge: number;
  /** Where hashing starts within a chunk. */
  private readonly hashFrom: number;
  /** The first chunk length that is tested for a cut. */
  private readonly testFrom: number;
  /** Hash between calls; an object so the hot-loop helpers can hand it back. */
  private readonly state: HashState = { h: 0 };
  private length = 0;

  constructor(params: ResolvedChunkerOptions) {
    this.params = params;
    this.normal = normalSize(params.avg);
    this.max = params.max;
    const bits = Math.log2(params.avg);
    this.maskSmall = topBits(bits + NORMALIZATION);
    this.maskLarge = topBits(bits - NORMALIZATION);
    this.hashFrom = params.min - GEAR_WINDOW;
    this.testFrom = params.min;
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

    // 1. Skip: these bytes can neither cut nor reach a tested hash.
    if (len < this.hashFrom) {
      const skip = Math.min(this.hashFrom - len, n - pos);
      pos += skip;
      len += skip;
      if (len < this.hashFrom) {
        this.length = len;
        return -1;
      }
    }

    let h = this.state.h;

    // 2. Warm up: the 31 bytes before the first tested one (chunk lengths up to min - 1).
    if (len < this.testFrom - 1) {
      const end = Math.min(n, pos + (this.testFrom - 1 - len));
      h = gearHash(bytes, pos, end, h);
      len += end - pos;
      pos = end;
    }

    // 3. Lengths min .. normal-1 with the hard mask, then normal .. max with the easy one.
    if (len < this.normal - 1) {
      const end = Math.min(n, pos + (this.normal - 1 - len));
      const cut = gearFind(bytes, pos, end, h, this.maskSmall, this.state);
      if (cut >= 0) return this.cut(cut);
      h = this.state.h;
      len += end - pos;
      pos = end;
    }
    if (len >= this.normal - 1) {
      const end = Math.min(n, pos + (this.max - len));
      const cut = gearFind(bytes, pos, end, h, this.maskLarge, this.state);
      if (cut >= 0) return this.cut(cut);
      h = this.state.h;
      len += end - pos;
      pos = end;
      if (len >= this.max) return this.cut(pos);
    }

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

// The hot loops live in small functions of their own: V8 then optimizes them once, with type
// feedback for every path, instead of deoptimizing scan() each time a rare branch is first taken.

function gearHash(bytes: Uint8Array, pos: number, end: number, h: number): number {
  const G = GEAR_TABLE;
  while (pos < end) h = ((h << 1) + G[bytes[pos++]]) | 0;
  return h;
}

/** Returns the index just after the first byte where (h & mask) === 0, or -1 with out.h set. */
function gearFind(bytes: Uint8Array, pos: number, end: number, h: number, mask: number, out: HashState): number {
  const G = GEAR_TABLE;
  if (LITTLE_ENDIAN && end - pos >= 64) {
    for (let head = bytesToAlignment(bytes, pos); head > 0; head--) {
      h = ((h << 1) + G[bytes[pos++]]) | 0;
      if ((h & mask) === 0) return pos;
    }
    const count = (end - pos) >>> 2;
    const cut = gearFindInWords(new Uint32Array(bytes.buffer, bytes.byteOffset + pos, count), h, mask, out);
    if (cut >= 0) return pos + cut;
    h = out.h;
    pos += count << 2;
  }
  while (pos < end) {
    h = ((h << 1) + G[bytes[pos++]]) | 0;
    if ((h & mask) === 0) return pos;
  }
  out.h = h;
  return -1;
}

/** gearFind over whole words, two per turn; returns a byte count into `words`, or -1 with out.h. */
function gearFindInWords(words: Uint32Array, h: number, mask: number, out: HashState): number {
  const G = GEAR_TABLE;
  const n = words.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const w = words[i];
    const v = words[i + 1];
    h = ((h << 1) + G[w & 255]) | 0;
    if ((h & mask) === 0) return (i << 2) + 1;
    h = ((h << 1) + G[(w >>> 8) & 255]) | 0;
    if ((h & mask) === 0) return (i << 2) + 2;
    h = ((h << 1) + G[(w >>> 16) & 255]) | 0;
    if ((h & mask) === 0) return (i << 2) + 3;
    h = ((h << 1) + G[w >>> 24]) | 0;
    if ((h & mask) === 0) return (i << 2) + 4;
    h = ((h << 1) + G[v & 255]) | 0;
    if ((h & mask) === 0) return (i << 2) + 5;
    h = ((h << 1) + G[(v >>> 8) & 255]) | 0;
    if ((h & mask) === 0) return (i << 2) + 6;
    h = ((h << 1) + G[(v >>> 16) & 255]) | 0;
    if ((h & mask) === 0) return (i << 2) + 7;
    h = ((h << 1) + G[v >>> 24]) | 0;
    if ((h & mask) === 0) return (i << 2) + 8;
  }
  if (i < n) {
    const w = words[i];
    h = ((h << 1) + G[w & 255]) | 0;
    if ((h & mask) === 0) return (i << 2) + 1;
    h = ((h << 1) + G[(w >>> 8) & 255]) | 0;
    if ((h & mask) === 0) return (i << 2) + 2;
    h = ((h << 1) + G[(w >>> 16) & 255]) | 0;
    if ((h & mask) === 0) return (i << 2) + 3;
    h = ((h << 1) + G[w >>> 24]) | 0;
    if ((h & mask) === 0) return (i << 2) + 4;
  }
  out.h = h;
  return -1;
}
