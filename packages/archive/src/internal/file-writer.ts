// The restore's file-writer thread (README §5, "Restore safety rules"). Creating a file costs
// the kernel more than decoding its content costs the main thread: on ext4 a tree restore
// spent about half its CPU in open/write/close. So the extractor hands small files and
// directory metadata to one worker thread, in batches, and goes on decoding while the worker
// makes the system calls; both cores work.
//
// The rules do not change: a file is created at its final name with O_CREAT|O_EXCL|O_NOFOLLOW
// inside a directory the main thread made, written (zero 64 KiB blocks left as holes), chowned
// only if needed, chmodded unless created with its mode, futimes'd, closed; on an error it is
// removed. The worker runs jobs in the order they were given, so a directory's metadata job
// (queued at its goodbye) runs after every file queued inside it. After the first failure the
// worker runs nothing more. Paths and contents travel in one ArrayBuffer per batch, transferred
// both ways (the buffer comes back for the next batch): nothing is copied between threads.
//
// The worker is a plain script (eval) so that it runs the same from the TypeScript sources
// (tests), from dist/ and from a bundled client.

import { Worker } from "node:worker_threads";

/** Numbers per job in a batch's job table. */
const FIELDS = 13;
const KIND_FILE = 0;
const KIND_DIR = 1;
/** A batch is sent once it holds this many bytes or jobs. */
const BATCH_BYTES = 1 << 20;
const BATCH_JOBS = 64;
/** Batches the worker may have queued before the main thread waits. */
const MAX_IN_FLIGHT = 8;

const WORKER_SOURCE = `
"use strict";
const { parentPort } = require("node:worker_threads");
const fs = require("node:fs");
const C = fs.constants;
const FLAGS = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;
const BLOCK = 65536;
const ZERO = Buffer.alloc(BLOCK);
const F = ${FIELDS};
// fs turns a negative number (before 1970) into the current time; a numeric string goes as is
const t = (s) => (s < 0 ? String(s) : s);
let failed = false;

function writeRuns(fd, data, sparse) {
  let written = 0;
  let start = -1;
  const flush = (end) => {
    let done = start;
    while (done < end) done += fs.writeSync(fd, data, done, end - done, done);
    written = end;
    start = -1;
  };
  if (!sparse) {
    if (data.length > 0) { start = 0; flush(data.length); }
    return written;
  }
  for (let o = 0; o < data.length; o += BLOCK) {
    const end = Math.min(o + BLOCK, data.length);
    const zero = data.compare(ZERO, 0, end - o, o, end) === 0;
    if (!zero && start < 0) start = o;
    if (zero && start >= 0) flush(o);
  }
  if (start >= 0) flush(data.length);
  return written;
}

function file(buf, j, o) {
  const abs = Buffer.from(buf, j[o + 1], j[o + 2]);
  const data = Buffer.from(buf, j[o + 3], j[o + 4]);
  const size = j[o + 5], perm = j[o + 6], exact = j[o + 7] === 1, mt = j[o + 8];
  const fd = fs.openSync(abs, FLAGS, exact ? perm : 0o600);
  try {
    const written = writeRuns(fd, data, j[o + 12] === 1);
    if (written < size) fs.ftruncateSync(fd, size);
    if (j[o + 9] === 1) fs.fchownSync(fd, j[o + 10], j[o + 11]);
    if (!exact) fs.fchmodSync(fd, perm);
    fs.futimesSync(fd, t(mt), t(mt));
  } catch (e) {
    try { fs.closeSync(fd); } catch {}
    try { fs.unlinkSync(abs); } catch {}
    e.partial = true;
    throw e;
  }
  fs.closeSync(fd);
}

function dir(buf, j, o) {
  const abs = Buffer.from(buf, j[o + 1], j[o + 2]);
  const mt = j[o + 8];
  if (j[o + 9] === 1) fs.lchownSync(abs, j[o + 10], j[o + 11]);
  fs.chmodSync(abs, j[o + 6]);
  fs.lutimesSync(abs, t(mt), t(mt));
}

parentPort.on("message", (m) => {
  let error;
  if (!failed) {
    const j = m.jobs;
    for (let i = 0, o = 0; i < m.count; i++, o += F) {
      try {
        if (j[o] === ${KIND_FILE}) file(m.buf, j, o);
        else dir(m.buf, j, o);
      } catch (e) {
        failed = true;
        error = { index: i, code: typeof e.code === "string" ? e.code : "ERR_INTERNAL", message: String(e.message), partial: e.partial === true };
        break;
      }
    }
  }
  parentPort.postMessage({ id: m.id, buf: m.buf, error }, [m.buf]);
});
`;

export interface WriterFailure {
  /** Archive path of the entry that failed. */
  path: Buffer;
  code: string;
  message: string;
  /** The file had been created and was removed again. */
  partial: boolean;
}

interface Answer {
  id: number;
  buf: ArrayBuffer;
  error?: { index: number; code: string; message: string; partial: boolean };
}

export interface SmallFileJob {
  abs: Buffer;
  path: Buffer;
  data: Buffer;
  size: number;
  perm: number;
  /** Created with `perm` (the umask leaves it alone): no fchmod. */
  exact: boolean;
  mtime: number;
  chown: boolean;
  uid: number;
  gid: number;
  sparse: boolean;
}

export interface DirMetaJob {
  abs: Buffer;
  path: Buffer;
  mode: number;
  mtime: number;
  chown: boolean;
  uid: number;
  gid: number;
}

export class FileWriter {
  readonly #worker: Worker;
  readonly #free: ArrayBuffer[] = [];
  readonly #inFlight = new Map<number, Buffer[]>();
  readonly #onFailure: (f: WriterFailure) => void;
  #buf: ArrayBuffer | undefined;
  #used = 0;
  #jobs = new Float64Array(BATCH_JOBS * FIELDS);
  #count = 0;
  #paths: Buffer[] = [];
  #nextId = 1;
  #failure: WriterFailure | undefined;
  #crash: Error | undefined;
  #wake: Array<() => void> = [];
  #closed = false;

  /** `onFailure` hears of the first job that failed (once); later calls throw `failed()`. */
  constructor(onFailure: (f: WriterFailure) => void) {
    this.#onFailure = onFailure;
    this.#worker = new Worker(WORKER_SOURCE, { eval: true });
    this.#worker.on("message", (a: Answer) => this.#answer(a));
    this.#worker.on("error", (err) => {
      this.#crash ??= err;
      this.#wakeUp();
    });
    this.#worker.on("exit", (code) => {
      if (!this.#closed) this.#crash ??= new Error(`file writer thread exited with code ${code}`);
      this.#wakeUp();
    });
  }

  #answer(a: Answer): void {
    const paths = this.#inFlight.get(a.id);
    this.#inFlight.delete(a.id);
    this.#free.push(a.buf);
    if (a.error && paths && !this.#failure) {
      this.#failure = { path: paths[a.error.index], code: a.error.code, message: a.error.message, partial: a.error.partial };
      this.#onFailure(this.#failure);
    }
    this.#wakeUp();
  }

  #wakeUp(): void {
    const all = this.#wake;
    this.#wake = [];
    for (const w of all) w();
  }

  #check(): void {
    if (this.#crash) throw this.#crash;
  }

  /** Room for `bytes` more in the current batch (sending it first if it is full). */
  #reserve(bytes: number): void | Promise<void> {
    if (this.#buf !== undefined && (this.#used + bytes > this.#buf.byteLength || this.#count >= BATCH_JOBS)) {
      const wait = this.#send();
      if (wait) return wait.then(() => this.#reserve(bytes));
    }
    if (this.#buf === undefined) {
      const size = Math.max(BATCH_BYTES, bytes);
      const i = this.#free.findIndex((b) => b.byteLength >= size);
      this.#buf = i >= 0 ? this.#free.splice(i, 1)[0] : new ArrayBuffer(size);
      this.#used = 0;
    }
  }

  #put(b: Buffer): number {
    const at = this.#used;
    new Uint8Array(this.#buf!, at, b.length).set(b);
    this.#used += b.length;
    return at;
  }

  #job(kind: number, absOff: number, absLen: number, dataOff: number, dataLen: number, size: number, mode: number, exact: boolean, mtime: number, chown: boolean, uid: number, gid: number, sparse: boolean, path: Buffer): void | Promise<void> {
    const j = this.#jobs;
    const o = this.#count * FIELDS;
    j[o] = kind;
    j[o + 1] = absOff;
    j[o + 2] = absLen;
    j[o + 3] = dataOff;
    j[o + 4] = dataLen;
    j[o + 5] = size;
    j[o + 6] = mode;
    j[o + 7] = exact ? 1 : 0;
    j[o + 8] = mtime;
    j[o + 9] = chown ? 1 : 0;
    j[o + 10] = uid;
    j[o + 11] = gid;
    j[o + 12] = sparse ? 1 : 0;
    this.#count++;
    this.#paths.push(path);
    if (this.#used >= BATCH_BYTES || this.#count >= BATCH_JOBS) return this.#send();
  }

  /** Queues a small file; `job.data` is copied (it may be a view of a buffer the caller reuses). */
  file(job: SmallFileJob): void | Promise<void> {
    this.#check();
    const need = job.abs.length + job.data.length;
    const r = this.#reserve(need);
    const go = () => {
      const absOff = this.#put(job.abs);
      const dataOff = this.#put(job.data);
      return this.#job(KIND_FILE, absOff, job.abs.length, dataOff, job.data.length, job.size, job.perm, job.exact, job.mtime, job.chown, job.uid, job.gid, job.sparse, job.path);
    };
    return r ? r.then(go) : go();
  }

  /** Queues a directory's owner, mode and mtime, applied after everything queued before it. */
  dir(job: DirMetaJob): void | Promise<void> {
    this.#check();
    const r = this.#reserve(job.abs.length);
    const go = () => {
      const absOff = this.#put(job.abs);
      return this.#job(KIND_DIR, absOff, job.abs.length, 0, 0, 0, job.mode, false, job.mtime, job.chown, job.uid, job.gid, false, job.path);
    };
    return r ? r.then(go) : go();
  }

  /** Sends the current batch; resolves once fewer than MAX_IN_FLIGHT batches are queued. */
  #send(): void | Promise<void> {
    if (this.#buf !== undefined && this.#count > 0) {
      const id = this.#nextId++;
      const buf = this.#buf;
      this.#inFlight.set(id, this.#paths);
      this.#worker.postMessage({ id, buf, jobs: this.#jobs.slice(0, this.#count * FIELDS), count: this.#count }, [buf]);
      this.#buf = undefined;
      this.#used = 0;
      this.#count = 0;
      this.#paths = [];
    }
    if (this.#inFlight.size >= MAX_IN_FLIGHT) return this.#waitBelow(MAX_IN_FLIGHT);
  }

  async #waitBelow(n: number): Promise<void> {
    while (this.#inFlight.size >= n) {
      this.#check();
      await new Promise<void>((resolve) => {
        this.#wake.push(resolve);
      });
    }
    this.#check();
  }

  /** Sends what is queued and waits until the worker has run all of it. */
  async drain(): Promise<void> {
    this.#check();
    await this.#send();
    await this.#waitBelow(1);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#worker.terminate();
  }
}
