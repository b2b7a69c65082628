// The CPU side of backup and restore: a pool of worker threads (os.availableParallelism()) that
// hash + compress (+ encrypt) batches of chunks, and decode + verify downloaded blobs. Callers
// stream chunks in and get results out in the same order; a bounded number of batches is in
// flight, so memory stays flat while every worker is busy. Chunk bytes move between threads as
// transferred ArrayBuffers (one copy out of the chunker's buffers, none on the way back).

import os from "node:os";
import { Worker } from "node:worker_threads";
import { CryptConfig, chunkDigest, decodeBlob, encodeBlob } from "@cairn/format";
import { BODY_HEADROOM, adoptBody } from "@cairn/protocol/client";
import { ClientError } from "./errors.js";
import { envCount } from "./env-count.js";
import { GcPacer } from "./gc.js";
import type { InjectedChunk } from "./payload-sink.js";
import type { DecodeRequest, EncodedChunk, EncodeFileRequest, EncodeRequest, KnownMessage, WorkerAnswer } from "./workers/chunk-worker.js";

export interface ChunkResult {
  digest: string;
  size: number;
  /** The encoded blob to upload, or null when the chunk is already known. */
  blob: Buffer | null;
  /** Appended by reference from the previous snapshot (metadata change detection). */
  injected?: boolean;
  /**
   * The worker-made ArrayBuffer holding `blob`: once the blob is on the wire, hand it to
   * ChunkPool.recycle so its memory is freed by a worker's cheap young-generation collection
   * instead of a full collection on the main thread.
   */
  recycle?: ArrayBuffer;
}

export interface PoolOptions {
  workers?: number;
  /** Raw 32-byte encryption key: blobs are encrypted and digests keyed. */
  key?: Uint8Array;
  /** Target bytes per batch (default 4 MiB). */
  batchBytes?: number;
  /**
   * Batches in flight per worker (default 1). A second batch per worker kept each worker's next
   * batch queued, but cost about 13 MB of peak RSS on a first backup (206-210 -> 193-194 MB with
   * 1 MiB chunks) and measured no faster on two cores, where the server's checks share the CPU.
   */
  depth?: number;
  /** zstd level of new chunks (default 1, as PBS). */
  level?: number;
}

interface Slot {
  worker: Worker;
  busy: number;
}

type Pending = { resolve: (a: WorkerAnswer) => void; reject: (e: Error) => void; slot: Slot };

/**
 * Marks a promise that is awaited later, in order: its failure is reported there. Without this,
 * one that fails while the generator holding it waits at a `yield` (a file being imaged shrank)
 * counts as unhandled and ends the process with a stack trace.
 */
function awaitedLater<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

/**
 * A downloaded chunk that fails to decode (CRC, decompression, decryption, digest) is named by
 * its digest: the format's message alone does not say which of the snapshot's chunks it was.
 */
function damagedChunk(err: unknown, digest: string): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string" || !/^ERR_(BLOB|DIGEST)_/.test(code) || code === "ERR_BLOB_NEEDS_KEY") return err;
  const e = new Error(`chunk ${digest} is damaged (${(err as Error).message}); \`cairn verify\` finds every snapshot it belongs to`, { cause: err }) as Error & { code: string };
  e.code = code;
  return e;
}

function remoteError(a: { code: string; message: string }): Error {
  const e = new Error(a.message) as Error & { code: string };
  e.code = a.code;
  return e;
}

function fromWorker(r: EncodedChunk): ChunkResult {
  if (!r.blob) return { digest: r.digest, size: r.size, blob: null };
  return { digest: r.digest, size: r.size, blob: adoptBody(Buffer.from(r.blob, r.offset)), recycle: r.blob };
}

/** Streams up to this size are encoded on the main thread when no worker is running yet. */
const INLINE_MAX = 6 << 20;

export class ChunkPool {
  readonly size: number;
  readonly #slots: Slot[] = [];
  readonly #key: Uint8Array | undefined;
  readonly #level: number | undefined;
  /** Known digests collected before the workers exist. */
  #known: string[] = [];
  #closing = false;
  /**
   * Main-thread side of a backup's buffer churn: the tree encoder's read buffers, let go once
   * chunked and counted as chunk bytes (sent blobs go back to the workers, see recycle). A collection
   * every 16 MiB (was 32) took first-backup peak RSS from 185-196 to 177-178 MB in interleaved
   * runs at no measured cost in time; 8 MiB saved 5 MB more for more GC work.
   */
  readonly pacer = new GcPacer(16 << 20);
  readonly #mainKnown = new Set<string>();
  #crypt: CryptConfig | undefined;
  readonly #pending = new Map<number, Pending>();
  /** Sent blobs' ArrayBuffers, handed to the next worker message (see recycle). */
  #garbage = new Set<ArrayBuffer>();
  readonly #batchBytes: number;
  readonly #depth: number;
  #nextId = 1;
  #failed: Error | undefined;

  constructor(opts: PoolOptions = {}) {
    this.size = Math.max(1, opts.workers ?? envCount("CAIRN_WORKERS", os.availableParallelism()));
    this.#batchBytes = opts.batchBytes ?? 4 << 20;
    this.#depth = opts.depth ?? envCount("CAIRN_POOL_DEPTH", 1);
    this.#key = opts.key ? Uint8Array.from(opts.key) : undefined;
    this.#level = opts.level;
  }

  /** Workers start on first use: a backup that re-uses everything never pays for them. */
  #workers(): Slot[] {
    if (this.#slots.length > 0) return this.#slots;
    const url = new URL("./workers/chunk-worker.js", import.meta.url);
    for (let i = 0; i < this.size; i++) {
      // blobs come back with room for the upload frame's header in front (no copy into a frame)
      const worker = new Worker(url, { workerData: { key: this.#key, level: this.#level, headroom: BODY_HEADROOM } });
      const slot: Slot = { worker, busy: 0 };
      worker.on("message", (a: WorkerAnswer) => {
        const p = this.#pending.get(a.id);
        if (!p) return;
        this.#pending.delete(a.id);
        p.slot.busy--;
        if (a.type === "error") p.reject(remoteError(a));
        else p.resolve(a);
      });
      worker.on("error", (err) => this.#fail(err));
      worker.on("exit", (code) => {
        if (code !== 0 && !this.#closing) this.#fail(new ClientError("ERR_INTERNAL", `chunk worker exited with code ${code}`));
      });
      this.#slots.push(slot);
    }
    if (this.#known.length > 0) {
      const msg: KnownMessage = { type: "known", digests: this.#known };
      for (const s of this.#slots) s.worker.postMessage(msg);
      this.#known = [];
    }
    return this.#slots;
  }

  #fail(err: Error): void {
    this.#failed ??= err;
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      p.reject(err);
    }
  }

  #send(msg: Omit<EncodeRequest, "id"> | Omit<EncodeFileRequest, "id"> | Omit<DecodeRequest, "id">, transfer: ArrayBuffer[]): Promise<WorkerAnswer> {
    if (this.#failed) return Promise.reject(this.#failed);
    const slot = this.#workers().reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.#nextId++;
    slot.busy++;
    let garbage: ArrayBuffer[] | undefined;
    if (this.#garbage.size > 0) {
      garbage = [...this.#garbage];
      this.#garbage = new Set();
    }
    return new Promise<WorkerAnswer>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, slot });
      slot.worker.postMessage({ ...msg, id, garbage }, garbage ? [...transfer, ...garbage] : transfer);
    });
  }

  /**
   * Takes back the ArrayBuffer of a worker-made blob (ChunkResult.recycle) that has been sent
   * and is no longer read: it rides to a worker with the next request, is detached here, and
   * dies young there. Main-thread buffers that live through an upload are promoted to the old
   * generation, where only a full collection frees them: about 300 of those in a 2 GB backup.
   */
  recycle(ab: ArrayBuffer): void {
    if (ab.byteLength > 0) this.#garbage.add(ab);
  }

  /** Tells every worker that these digests are stored (they will be hashed only). */
  addKnown(digests: Iterable<string>): void {
    const list = [...digests];
    if (list.length === 0) return;
    for (const d of list) this.#mainKnown.add(d);
    if (this.#slots.length === 0) {
      this.#known.push(...list);
      return;
    }
    const msg: KnownMessage = { type: "known", digests: list };
    for (const s of this.#slots) s.worker.postMessage(msg);
  }

  /**
   * A small stream that ended before any worker was needed (a catalog, the metadata archive of
   * an unchanged tree) is encoded right here: starting worker threads would cost more.
   */
  #encodeInline(chunks: ArrayBuffer[]): ChunkResult[] {
    if (this.#key && !this.#crypt) this.#crypt = new CryptConfig(this.#key);
    return chunks.map((ab) => {
      const data = Buffer.from(ab);
      const digest = chunkDigest(data, this.#crypt).toString("hex");
      if (this.#mainKnown.has(digest)) return { digest, size: data.length, blob: null };
      this.#mainKnown.add(digest);
      return { digest, size: data.length, blob: adoptBody(encodeBlob(data, { compress: true, crypt: this.#crypt, level: this.#level, headroom: BODY_HEADROOM })) };
    });
  }

  async #encodeBatch(chunks: ArrayBuffer[]): Promise<ChunkResult[]> {
    const a = await this.#send({ type: "encode", chunks }, chunks);
    if (a.type !== "encoded") throw new ClientError("ERR_INTERNAL", "worker answered the wrong request");
    return a.results.map(fromWorker);
  }

  /**
   * Hashes and encodes `chunks`, yielding results in input order; injected chunks pass through.
   * With `owned`, the caller hands the chunk buffers over: a chunk that spans its whole
   * ArrayBuffer (a chunk the chunker joined from pieces, a whole read piece) is transferred to a
   * worker as is, and so detached here; only views into larger buffers are copied.
   */
  async *encode(chunks: AsyncIterable<Uint8Array | InjectedChunk> | Iterable<Uint8Array | InjectedChunk>, owned = false): AsyncGenerator<ChunkResult> {
    const it = (Symbol.asyncIterator in chunks ? chunks[Symbol.asyncIterator]() : (chunks as Iterable<Uint8Array | InjectedChunk>)[Symbol.iterator]()) as
      | AsyncIterator<Uint8Array | InjectedChunk>
      | Iterator<Uint8Array | InjectedChunk>;
    const maxInFlight = this.size * this.#depth;
    const inFlight: Promise<ChunkResult[]>[] = [];
    let batch: ArrayBuffer[] = [];
    let batchBytes = 0;
    let done = false;
    for (;;) {
      while (!done && inFlight.length < maxInFlight) {
        const r = await it.next();
        if (r.done) {
          done = true;
          break;
        }
        if (!(r.value instanceof Uint8Array)) {
          if (batch.length > 0) {
            const tiny = this.#slots.length === 0 && batchBytes <= 1 << 20;
            inFlight.push(tiny ? Promise.resolve(this.#encodeInline(batch)) : awaitedLater(this.#encodeBatch(batch)));
          }
          batch = [];
          batchBytes = 0;
          inFlight.push(Promise.resolve([{ digest: r.value.digest, size: r.value.size, blob: null, injected: true }]));
          continue;
        }
        const v = r.value;
        let ab: ArrayBuffer;
        if (owned && v.byteOffset === 0 && v.byteLength === v.buffer.byteLength && v.buffer instanceof ArrayBuffer && v.byteLength > 0) {
          ab = v.buffer;
        } else {
          // allocUnsafeSlow: an exact, unpooled, not zero-filled ArrayBuffer that can be transferred.
          const copy = Buffer.allocUnsafeSlow(v.length);
          copy.set(v);
          ab = copy.buffer as ArrayBuffer;
        }
        batch.push(ab);
        batchBytes += ab.byteLength;
        if (batchBytes >= Math.max(this.#batchBytes, this.#slots.length === 0 && inFlight.length === 0 ? INLINE_MAX + 1 : 0) || batch.length >= 256) {
          inFlight.push(awaitedLater(this.#encodeBatch(batch)));
          batch = [];
          batchBytes = 0;
        }
      }
      if (done && batch.length > 0) {
        const small = this.#slots.length === 0 && batchBytes <= INLINE_MAX;
        inFlight.push(small ? Promise.resolve(this.#encodeInline(batch)) : awaitedLater(this.#encodeBatch(batch)));
        batch = [];
      }
      const head = inFlight.shift();
      if (!head) return;
      for (const r of await head) {
        if (!r.injected) this.pacer.add(r.size);
        yield r;
      }
    }
  }

  /**
   * Hashes and encodes a file (or block device) of `size` bytes in fixed chunks; the workers
   * read the bytes themselves, so nothing is copied between threads on the way in.
   */
  async *encodeFile(path: string, size: number, chunkSize: number): AsyncGenerator<ChunkResult> {
    const maxInFlight = this.size * this.#depth;
    const inFlight: Promise<ChunkResult[]>[] = [];
    let offset = 0;
    const send = (ranges: Array<[number, number]>) =>
      this.#send({ type: "encode-file", path, ranges } as Omit<EncodeFileRequest, "id">, []).then((a) => {
        if (a.type !== "encoded") throw new ClientError("ERR_INTERNAL", "worker answered the wrong request");
        return a.results.map(fromWorker);
      });
    try {
      for (;;) {
        while (offset < size && inFlight.length < maxInFlight) {
          // Chunks smaller than a batch go several to a message: fewer round trips per GiB.
          const ranges: Array<[number, number]> = [];
          let bytes = 0;
          while (offset < size && (ranges.length === 0 || bytes + chunkSize <= this.#batchBytes)) {
            const n = Math.min(chunkSize, size - offset);
            ranges.push([offset, n]);
            bytes += n;
            offset += n;
          }
          inFlight.push(awaitedLater(send(ranges)));
        }
        const head = inFlight.shift();
        if (!head) break;
        // No pacing here: the blobs are handed back to the workers once sent (recycle).
        for (const r of await head) yield r;
      }
    } finally {
      for (const s of this.#slots) s.worker.postMessage({ type: "close-files" });
    }
  }

  /**
   * Decodes raw blobs (decompress, decrypt, check the digest). On the main thread by default:
   * measured on two busy cores, handing 4 MiB blobs to a worker (one copy out of the WebSocket
   * frame, the message, a wake-up) cost more main-thread time than zstd and SHA-256 themselves,
   * and the idle workers cost ~50 MB. CAIRN_DECODE_WORKERS=1 uses the pool.
   */
  async decode(blobs: Buffer[], digests: string[]): Promise<Buffer[]> {
    if (!process.env.CAIRN_DECODE_WORKERS) return blobs.map((b, i) => this.decodeInto(b, Buffer.from(digests[i], "hex")));
    const owned = blobs.map((b) => {
      if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer) return b.buffer;
      const copy = Buffer.allocUnsafeSlow(b.length);
      copy.set(b);
      return copy.buffer as ArrayBuffer;
    });
    const a = await this.#send({ type: "decode", blobs: owned, digests }, owned).catch((err: unknown) => {
      throw digests.length === 1 ? damagedChunk(err, digests[0]) : err;
    });
    if (a.type !== "decoded") throw new ClientError("ERR_INTERNAL", "worker answered the wrong request");
    return a.data.map((d) => Buffer.from(d));
  }

  /**
   * Decodes one raw blob on the main thread. With `into`, data that fits is decoded straight
   * into that buffer and the result is a view of it: nothing is allocated per chunk, and the
   * caller must be done with the previous contents before passing the same buffer again.
   */
  decodeInto(blob: Buffer, digest: Buffer, into?: Buffer): Buffer {
    if (this.#key && !this.#crypt) this.#crypt = new CryptConfig(this.#key);
    try {
      return decodeBlob(blob, { crypt: this.#crypt, digest, into });
    } catch (err) {
      throw damagedChunk(err, digest.toString("hex"));
    }
  }

  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }
}
