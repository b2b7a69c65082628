// A small pool of worker_threads (sized by os.availableParallelism()) for CPU-heavy chunk
// checks. Chunk bytes are copied once into a fresh ArrayBuffer and transferred to the worker
// and back; jobs queue FIFO when all workers are busy. A dead worker is replaced and its job fails.

import fs from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { ChunkCheckRequest, ChunkCheckResult } from "./chunk-check.js";

interface Job {
  id: number;
  req: ChunkCheckRequest;
  resolve: (r: { result: ChunkCheckResult; blob: Buffer }) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  job: Job | undefined;
}

const exclusive = new WeakSet<Uint8Array>();

/**
 * Marks `view` as the only user of its ArrayBuffer (a WebSocket message the transport owns):
 * checkChunk may then transfer the buffer to a worker instead of copying the bytes.
 */
export function handOver(view: Uint8Array): void {
  exclusive.add(view);
}

function workerPath(): string {
  const here = fileURLToPath(new URL("./verify-worker.js", import.meta.url));
  if (fs.existsSync(here)) return here;
  // Running from sources (vitest): use the built worker.
  return fileURLToPath(new URL("../dist/verify-worker.js", import.meta.url));
}

export class WorkerPool {
  readonly size: number;
  readonly #slots: Slot[] = [];
  readonly #queue: Job[] = [];
  #nextId = 1;
  #closed = false;

  constructor(size = os.availableParallelism()) {
    this.size = Math.max(1, size);
    for (let i = 0; i < this.size; i++) this.#slots.push(this.#spawn());
  }

  #spawn(): Slot {
    const slot: Slot = { worker: new Worker(workerPath()), job: undefined };
    slot.worker.unref();
    slot.worker.on("message", (msg: { id: number; result: ChunkCheckResult; blob: Uint8Array }) => {
      const job = slot.job;
      slot.job = undefined;
      if (job && job.id === msg.id) job.resolve({ result: msg.result, blob: Buffer.from(msg.blob.buffer, msg.blob.byteOffset, msg.blob.length) });
      this.#pump();
    });
    slot.worker.on("error", (err) => {
      slot.job?.reject(err);
      slot.job = undefined;
    });
    slot.worker.on("exit", () => {
      slot.job?.reject(new Error("verification worker exited"));
      slot.job = undefined;
      if (!this.#closed) {
        const i = this.#slots.indexOf(slot);
        if (i >= 0) this.#slots[i] = this.#spawn();
        this.#pump();
      }
    });
    return slot;
  }

  /**
   * Checks a chunk in a worker; resolves with the verdict and the (returned) chunk bytes. A
   * blob marked with `handOver` travels without a copy: its whole ArrayBuffer is transferred (and
   * detached here); any other blob is copied first.
   */
  checkChunk(req: ChunkCheckRequest): Promise<{ result: ChunkCheckResult; blob: Buffer }> {
    if (this.#closed) return Promise.reject(new Error("worker pool closed"));
    let copy: Uint8Array;
    if (exclusive.has(req.blob) && req.blob.buffer instanceof ArrayBuffer) {
      copy = req.blob;
    } else {
      copy = new Uint8Array(new ArrayBuffer(req.blob.length));
      copy.set(req.blob);
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ id: this.#nextId++, req: { ...req, blob: copy }, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    for (const slot of this.#slots) {
      if (this.#queue.length === 0) return;
      if (slot.job) continue;
      const job = this.#queue.shift()!;
      slot.job = job;
      slot.worker.postMessage({ id: job.id, req: job.req }, [job.req.blob.buffer as ArrayBuffer]);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const j of this.#queue.splice(0)) j.reject(new Error("worker pool closed"));
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }
}
