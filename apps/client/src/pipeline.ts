// The CPU side of backup and restore: a pool of worker threads (os.availableParallelism()) that
// hash + compress (+ encrypt) batches of chunks, and decode + verify downloaded blobs. Callers
// stream chunks in and get results out in the same order; a bounded number of batches is in
// flight, so memory stays flat while every worker is busy. Chunk bytes move between threads as
// transferred ArrayBuffers (one copy out of the chunker's buffers, none on the way back).

import os from "node:os";
import { Worker } from "node:worker_threads";
import { ClientError } from "./errors.js";
import type { InjectedChunk } from "./payload-sink.js";
import type { DecodeRequest, EncodedChunk, EncodeRequest, KnownMessage, WorkerAnswer } from "./workers/chunk-worker.js";

export interface ChunkResult {
  digest: string;
  size: number;
  /** The encoded blob to upload, or null when the chunk is already known. */
  blob: Buffer | null;
  /** Appended by reference from the previous snapshot (metadata change detection). */
  injected?: boolean;
}

export interface PoolOptions {
  workers?: number;
  /** Raw 32-byte encryption key: blobs are encrypted and digests keyed. */
  key?: Uint8Array;
  /** Target bytes per batch (default 4 MiB). */
  batchBytes?: number;
  /** Batches in flight per worker (default 2). */
  depth?: number;
}

interface Slot {
  worker: Worker;
  busy: number;
}

type Pending = { resolve: (a: WorkerAnswer) => void; reject: (e: Error) => void; slot: Slot };

function remoteError(a: { code: string; message: string }): Error {
  const e = new Error(a.message) as Error & { code: string };
  e.code = a.code;
  return e;
}

export class ChunkPool {
  readonly size: number;
  readonly #slots: Slot[];
  readonly #pending = new Map<number, Pending>();
  readonly #batchBytes: number;
  readonly #depth: number;
  #nextId = 1;
  #failed: Error | undefined;

  constructor(opts: PoolOptions = {}) {
    this.size = Math.max(1, opts.workers ?? os.availableParallelism());
    this.#batchBytes = opts.batchBytes ?? 4 << 20;
    this.#depth = opts.depth ?? 2;
    const url = new URL("./workers/chunk-worker.js", import.meta.url);
    this.#slots = Array.from({ length: this.size }, () => {
      const worker = new Worker(url, { workerData: { key: opts.key ? Uint8Array.from(opts.key) : undefined } });
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
        if (code !== 0) this.#fail(new ClientError("ERR_INTERNAL", `chunk worker exited with code ${code}`));
      });
      return slot;
    });
  }

  #fail(err: Error): void {
    this.#failed ??= err;
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      p.reject(err);
    }
  }

  #send(msg: Omit<EncodeRequest, "id"> | Omit<DecodeRequest, "id">, transfer: ArrayBuffer[]): Promise<WorkerAnswer> {
    if (this.#failed) return Promise.reject(this.#failed);
    const slot = this.#slots.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.#nextId++;
    slot.busy++;
    return new Promise<WorkerAnswer>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, slot });
      slot.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  /** Tells every worker that these digests are stored (they will be hashed only). */
  addKnown(digests: Iterable<string>): void {
    const list = [...digests];
    if (list.length === 0) return;
    const msg: KnownMessage = { type: "known", digests: list };
    for (const s of this.#slots) s.worker.postMessage(msg);
  }

  async #encodeBatch(chunks: ArrayBuffer[]): Promise<ChunkResult[]> {
    const a = await this.#send({ type: "encode", chunks }, chunks);
    if (a.type !== "encoded") throw new ClientError("ERR_INTERNAL", "worker answered the wrong request");
    return a.results.map((r: EncodedChunk) => ({ digest: r.digest, size: r.size, blob: r.blob ? Buffer.from(r.blob) : null }));
  }

  /** Hashes and encodes `chunks`, yielding results in input order; injected chunks pass through. */
  async *encode(chunks: AsyncIterable<Uint8Array | InjectedChunk> | Iterable<Uint8Array | InjectedChunk>): AsyncGenerator<ChunkResult> {
    const it = (Symbol.asyncIterator in chunks ? chunks[Symbol.asyncIterator]() : (chunks as Iterable<Uint8Array | InjectedChunk>)[Symbol.iterator]()) as
      | AsyncIterator<Uint8Array | InjectedChunk>
      | Iterator<Uint8Array | InjectedChunk>;
    const maxInFlight = this.size * this.#depth;
    const inFlight: Promise<ChunkResult[]>[] = [];
    let batch: ArrayBuffer[] = [];
    let batchBytes = 0;
    let done = false;
    try {
      for (;;) {
        while (!done && inFlight.length < maxInFlight) {
          const r = await it.next();
          if (r.done) {
            done = true;
            break;
          }
          if (!(r.value instanceof Uint8Array)) {
            if (batch.length > 0) inFlight.push(this.#encodeBatch(batch));
            batch = [];
            batchBytes = 0;
            inFlight.push(Promise.resolve([{ digest: r.value.digest, size: r.value.size, blob: null, injected: true }]));
            continue;
          }
          const ab = new ArrayBuffer(r.value.length);
          new Uint8Array(ab).set(r.value);
          batch.push(ab);
          batchBytes += ab.byteLength;
          if (batchBytes >= this.#batchBytes || batch.length >= 256) {
            inFlight.push(this.#encodeBatch(batch));
            batch = [];
            batchBytes = 0;
          }
        }
        if (done && batch.length > 0) {
          inFlight.push(this.#encodeBatch(batch));
          batch = [];
        }
        const head = inFlight.shift();
        if (!head) return;
        for (const r of await head) yield r;
      }
    } finally {
      for (const p of inFlight) p.catch(() => {});
    }
  }

  /** Decodes raw blobs (checking their digests) in a worker. */
  async decode(blobs: Buffer[], digests: string[]): Promise<Buffer[]> {
    const owned = blobs.map((b) => {
      const ab = new ArrayBuffer(b.length);
      new Uint8Array(ab).set(b);
      return ab;
    });
    const a = await this.#send({ type: "decode", blobs: owned, digests }, owned);
    if (a.type !== "decoded") throw new ClientError("ERR_INTERNAL", "worker answered the wrong request");
    return a.data.map((d) => Buffer.from(d));
  }

  async close(): Promise<void> {
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }
}
