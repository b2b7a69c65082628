// Restore-side chunk readers that allocate nothing per chunk. Raw blobs are downloaded a window
// ahead (the WebSocket message buffers are the only per-chunk allocation left) and decoded only
// when needed, straight into a few reusable scratch buffers sized to the index's chunks: a fresh
// 4 MiB buffer per chunk costs a mmap, a thousand page faults and a garbage collection share.

import type { RandomAccessReader } from "@cairn/archive";
import { MAX_CHUNK_SIZE } from "@cairn/format";
import { GcPacer } from "./gc.js";
import type { ChunkPool } from "./pipeline.js";
import type { IndexReader, OpenSnapshot } from "./remote.js";

/** Largest chunk of an index (the scratch size); capped at the datastore's chunk limit. */
export function maxChunkSize(index: IndexReader): number {
  let max = 0;
  for (let i = 0; i < index.chunkCount; i++) {
    const info = index.chunkInfo(i);
    max = Math.max(max, info.end - info.start);
  }
  return Math.min(Math.max(max, 1), MAX_CHUNK_SIZE);
}

function digestOf(index: IndexReader, i: number): Buffer {
  return Buffer.from(index.chunkInfo(i).digest);
}

/**
 * Raw chunk downloads of one index: `get(i)` returns chunk i's blob (downloading it if needed)
 * and keeps the downloads of chunks i+1 … i+ahead running, bounded by `aheadBytes` of chunk
 * data. Blobs are dropped once taken, or when they fall out of the window. A chunk that appears
 * twice within the window (a payload after metadata change detection injects the chunk around
 * a changed file once before and once after it) is downloaded once.
 */
class RawWindow {
  readonly #raw = new Map<number, Promise<Buffer>>();

  constructor(
    readonly snap: OpenSnapshot,
    readonly index: IndexReader,
    readonly ahead: number,
    readonly aheadBytes: number,
    /** Collects garbage every this many chunk bytes taken (0: leave it to V8). */
    gcEvery = 0,
  ) {
    this.#gc = gcEvery > 0 ? new GcPacer(gcEvery) : undefined;
  }

  readonly #gc: GcPacer | undefined;

  #fetch(i: number): Promise<Buffer> {
    let p = this.#raw.get(i);
    if (!p) {
      const digest = this.index.chunkInfo(i).digest;
      for (const [k, q] of this.#raw) {
        if (Buffer.compare(digest, this.index.chunkInfo(k).digest) === 0) {
          p = q;
          break;
        }
      }
    }
    if (!p) {
      p = this.snap.reader.chunk(digestOf(this.index, i));
      // a failed prefetch is reported when (and if) its chunk is needed
      p.catch(() => {});
    }
    this.#raw.set(i, p);
    return p;
  }

  /** Chunk i's raw blob; starts the downloads ahead of it and forgets those behind. */
  take(i: number): Promise<Buffer> {
    const p = this.#fetch(i);
    if (this.#gc) {
      const info = this.index.chunkInfo(i);
      this.#gc.add(info.end - info.start);
    }
    let bytes = 0;
    for (let k = i + 1; k < this.index.chunkCount && k <= i + this.ahead; k++) {
      const info = this.index.chunkInfo(k);
      bytes += info.end - info.start;
      if (bytes > this.aheadBytes && k > i + 1) break;
      this.#fetch(k);
    }
    // dropped only now, so a chunk ahead with the same digest shares this download
    this.#raw.delete(i);
    if (this.#raw.size > this.ahead + 4) {
      for (const k of this.#raw.keys()) if (k < i || k > i + this.ahead) this.#raw.delete(k);
    }
    return p;
  }
}

interface Slot {
  chunk: number;
  /** The digest of `chunk` (a chunk with the same digest is served from this slot too). */
  digest: Buffer | undefined;
  data: Buffer | undefined;
  scratch: Buffer | undefined;
  used: number;
}

/**
 * Random access over an index for the payload of a split archive. Decoded chunks live in
 * `slots` reusable scratch buffers. A Buffer returned by `read` or `readView` may be a view of
 * one of them: it is valid until the next call on this reader, which is how the extractor uses
 * payload bytes (it writes or copies each piece before asking for the next). Calls are served
 * one at a time.
 */
export class ChunkRangeReader implements RandomAccessReader {
  readonly size: number;
  readonly #index: IndexReader;
  readonly #pool: ChunkPool;
  readonly #raw: RawWindow;
  readonly #slots: Slot[] = [];
  readonly #scratchSize: number;
  #clock = 0;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(snap: OpenSnapshot, index: IndexReader, pool: ChunkPool, opts: { slots?: number; ahead?: number; aheadBytes?: number; gcEvery?: number } = {}) {
    this.size = index.size;
    this.#index = index;
    this.#pool = pool;
    // The tree restore's heap and the CLI's baseline leave less room: the downloaded blobs it
    // drops are collected every 48 MiB (peak RSS 168-173 MB instead of 175-208 MB, same CPU).
    this.#raw = new RawWindow(snap, index, opts.ahead ?? 12, opts.aheadBytes ?? 24 << 20, opts.gcEvery ?? 48 << 20);
    this.#scratchSize = maxChunkSize(index);
    for (let i = 0; i < (opts.slots ?? 3); i++) this.#slots.push({ chunk: -1, digest: undefined, data: undefined, scratch: undefined, used: 0 });
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#queue.then(fn, fn);
    this.#queue = p.catch(() => {});
    return p;
  }

  async #chunk(i: number): Promise<Buffer> {
    let slot = this.#slots.find((s) => s.chunk === i);
    if (!slot) {
      const digest = digestOf(this.#index, i);
      slot = this.#slots.find((s) => s.chunk >= 0 && s.digest !== undefined && s.digest.equals(digest));
      if (slot) {
        // the same chunk again (decoded already): only the download window moves on
        this.#raw.take(i).catch(() => {});
        slot.chunk = i;
      } else {
        slot = this.#slots.reduce((a, b) => (b.used < a.used ? b : a));
        slot.chunk = -1;
        slot.data = undefined;
        const raw = await this.#raw.take(i);
        slot.scratch ??= Buffer.allocUnsafeSlow(this.#scratchSize);
        slot.data = this.#pool.decodeInto(raw, digest, slot.scratch);
        slot.digest = digest;
        slot.chunk = i;
      }
    }
    slot.used = ++this.#clock;
    return slot.data!;
  }

  /** 1 … maxLength bytes at `offset`, never crossing a chunk boundary (no copy); empty at the end. */
  readView(offset: number, maxLength: number): Promise<Buffer> {
    return this.#serial(async () => {
      if (offset >= this.size || maxLength <= 0) return Buffer.alloc(0);
      const i = this.#index.chunkFromOffset(offset)!;
      const info = this.#index.chunkInfo(i);
      const data = await this.#chunk(i);
      const from = offset - info.start;
      return data.subarray(from, Math.min(data.length, from + maxLength));
    });
  }

  read(offset: number, length: number): Promise<Buffer> {
    return this.#serial(async () => {
      const end = Math.min(offset + length, this.size);
      if (offset >= end) return Buffer.alloc(0);
      let i = this.#index.chunkFromOffset(offset)!;
      let info = this.#index.chunkInfo(i);
      if (end <= info.end) {
        const data = await this.#chunk(i);
        return data.subarray(offset - info.start, end - info.start);
      }
      // spans chunks: copy each part out before the next decode may reuse its buffer
      const out = Buffer.allocUnsafe(end - offset);
      let pos = offset;
      while (pos < end) {
        info = this.#index.chunkInfo(i);
        const data = await this.#chunk(i);
        const to = Math.min(end, info.end) - info.start;
        data.copy(out, pos - offset, pos - info.start, to);
        pos = info.start + to;
        i++;
      }
      return out;
    });
  }
}

/**
 * The chunks of an index in order, each decoded into one of `ring` scratch buffers. A yielded
 * Buffer stays valid until `ring` more chunks have been yielded and `release` (if given) was
 * awaited for its slot: callers that write asynchronously pass the write's promise back.
 */
export async function* streamChunks(
  snap: OpenSnapshot,
  index: IndexReader,
  pool: ChunkPool,
  opts: { ring?: number; ahead?: number; aheadBytes?: number } = {},
): AsyncGenerator<{ data: Buffer; busy: (p: Promise<unknown>) => void }> {
  const raw = new RawWindow(snap, index, opts.ahead ?? 12, opts.aheadBytes ?? 32 << 20);
  const size = maxChunkSize(index);
  const ring: Array<{ scratch: Buffer | undefined; busy: Promise<unknown> | undefined }> = [];
  for (let k = 0; k < (opts.ring ?? 4); k++) ring.push({ scratch: undefined, busy: undefined });
  for (let i = 0; i < index.chunkCount; i++) {
    const blob = await raw.take(i);
    const slot = ring[i % ring.length];
    if (slot.busy) {
      await slot.busy;
      slot.busy = undefined;
    }
    slot.scratch ??= Buffer.allocUnsafeSlow(size);
    const data = pool.decodeInto(blob, digestOf(index, i), slot.scratch);
    yield {
      data,
      busy: (p) => {
        slot.busy = p;
      },
    };
  }
}
