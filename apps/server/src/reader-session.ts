// One reader session (spec: protocol.md "Reader session"): holds a shared lock on a finished
// snapshot for its lifetime and serves its files and the chunks its indexes reference. A chunk
// is served only after this session downloaded an index naming it, so a reader cannot probe
// the store for chunks of other snapshots.

import fs from "node:fs";
import type { DataStore, FileLock } from "@cairn/datastore";
import { DynamicIndexReader, FixedIndexReader } from "@cairn/format";
import { CLOSE_CODES, ProtocolError, READER_OPS, type ReaderParams, allocBody } from "@cairn/protocol";
import type { FastifyBaseLogger } from "fastify";
import type { WebSocket } from "ws";
import { SessionTransport } from "./session-transport.js";
import type { TaskContext } from "./tasks.js";

const MANIFEST = "index.json.blob";

export interface SnapshotKey {
  ns: string;
  type: "vm" | "ct" | "host";
  id: string;
  time: number;
}

export class ReaderSession {
  readonly transport: SessionTransport;
  readonly #ds: DataStore;
  readonly #snap: SnapshotKey;
  readonly #lock: FileLock;
  readonly #allowed = new Set<string>();
  readonly #task: TaskContext;
  readonly done: Promise<void>;
  #served = 0;

  constructor(ws: WebSocket, ds: DataStore, snap: SnapshotKey, lock: FileLock, task: TaskContext, log: FastifyBaseLogger) {
    this.#ds = ds;
    this.#snap = snap;
    this.#lock = lock;
    this.#task = task;
    this.transport = new SessionTransport(ws, READER_OPS, (op, p) => this.#dispatch(op, p), log);
    this.done = this.transport.closed.then(() => {
      this.#lock.release();
      this.#task.log(`reader closed after serving ${this.#served} chunks`);
    });
    // a task stopped through the API says so to its client; a server shutdown says that
    task.signal.addEventListener("abort", () => void this.shutdown((task.signal.reason as Error | undefined)?.message), { once: true });
  }

  async shutdown(reason = "server shutting down"): Promise<void> {
    this.transport.close(CLOSE_CODES.GOING_AWAY, reason);
    await this.done;
  }

  async #dispatch(op: string, p: Record<string, unknown>): Promise<{ result: unknown; body?: Uint8Array }> {
    if (op === "download") {
      const name = (p as ReaderParams<"download">)["file-name"];
      const layout = this.#ds.layout;
      const file = name === MANIFEST ? layout.manifestPath(this.#snap) : layout.archivePath(this.#snap, name);
      let data: Buffer;
      try {
        data = await fs.promises.readFile(file);
      } catch {
        throw new ProtocolError("ERR_NOT_FOUND", `snapshot has no file ${name}`);
      }
      if (name.endsWith(".didx") || name.endsWith(".fidx")) {
        const idx = name.endsWith(".didx") ? DynamicIndexReader.fromBuffer(data) : FixedIndexReader.fromBuffer(data);
        for (const d of idx.uniqueDigests()) this.#allowed.add(d);
      }
      return { result: { size: data.length }, body: data };
    }
    if (op === "chunk") {
      const digest = (p as ReaderParams<"chunk">).digest;
      if (!this.#allowed.has(digest)) {
        throw new ProtocolError("ERR_FORBIDDEN", `chunk ${digest} is not referenced by an index this session downloaded`);
      }
      let data: Buffer;
      try {
        // read into a body with room for the answer's frame header: the frame is built around it
        data = await this.#ds.readChunk(digest, allocBody);
      } catch (err) {
        if ((err as { code?: string }).code === "ERR_NOT_FOUND" || (err as { code?: string }).code === "ENOENT") {
          throw new ProtocolError("ERR_NOT_FOUND", `chunk ${digest} is missing from the datastore`);
        }
        throw err;
      }
      this.#served++;
      return { result: { size: data.length }, body: data };
    }
    throw new ProtocolError("ERR_UNKNOWN_OP", `unknown op ${op}`);
  }
}
