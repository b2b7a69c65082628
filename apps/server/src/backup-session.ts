// One backup session (spec: protocol.md "Backup session"): owns a datastore BackupWriter (group
// lock, snapshot lock, base snapshot) and the index writers opened by the client. Chunks are
// checked in the worker pool before insertion; appends accept only known digests (uploaded in
// this session, or listed in a base index fetched with `previous`); close recomputes count,
// size and csum. If the socket closes before `finish`, the unfinished snapshot is removed.

import { createHash } from "node:crypto";
import fs from "node:fs";
import type { BackupWriter as StoreBackupWriter } from "@cairn/datastore";
import { DynamicIndexReader, DynamicIndexWriter, FixedIndexReader, FixedIndexWriter, decodeBlob } from "@cairn/format";
import {
  BACKUP_OPS,
  type BackupParams,
  CLOSE_CODES,
  MAX_CHUNK_ENCODED_SIZE,
  MAX_CHUNK_SIZE,
  ProtocolError,
} from "@cairn/protocol";
import type { FastifyBaseLogger } from "fastify";
import type { WebSocket } from "ws";
import type { TaskContext } from "./tasks.js";
import { SessionTransport } from "./session-transport.js";
import type { WorkerPool } from "./worker-pool.js";

const MANIFEST = "index.json.blob";
const MAX_FIXED_ENTRIES = 1 << 22;

interface IndexSlot {
  kind: "dynamic" | "fixed";
  name: string;
  dyn?: DynamicIndexWriter;
  fixed?: FixedIndexWriter;
  chunkSize: number;
  /** Fixed: declared image size. */
  declaredSize: number;
  /** Dynamic: end of the last appended chunk. Fixed: entries set. */
  offset: number;
  count: number;
  closed: boolean;
  chain: Promise<unknown>;
}

interface FileRecord {
  size: number;
  csum: string;
}

export class BackupSession {
  readonly transport: SessionTransport;
  readonly #writer: StoreBackupWriter;
  readonly #pool: WorkerPool;
  readonly #task: TaskContext;
  readonly #known = new Map<string, number>();
  /**
   * Known only from a base index, not yet seen on disk in this session. Such a chunk may have
   * been renamed to .bad by verify or lost since: it is checked (and touched, for GC) when first
   * appended, and a missing one is unknown — the client must upload it again.
   */
  readonly #unconfirmed = new Set<string>();
  readonly #indexes = new Map<number, IndexSlot>();
  readonly #files = new Map<string, FileRecord>();
  readonly #names = new Set<string>();
  #manifest: Buffer | undefined;
  #nextWid = 1;
  #state: "open" | "finishing" | "finished" | "aborted" = "open";
  readonly stats = { chunks: 0, chunkBytes: 0, existed: 0, rejected: 0 };
  /** Resolves when the session is over (finished or aborted and cleaned up). */
  readonly done: Promise<"finished" | "aborted">;

  constructor(ws: WebSocket, writer: StoreBackupWriter, pool: WorkerPool, task: TaskContext, log: FastifyBaseLogger) {
    this.#writer = writer;
    this.#pool = pool;
    this.#task = task;
    this.transport = new SessionTransport(ws, BACKUP_OPS, (op, params, body) => this.#dispatch(op, params, body), log);
    this.done = this.transport.closed.then(async ({ code, reason }) => {
      if (this.#state === "finished") return "finished" as const;
      this.#task.log(`connection closed before finish (${code} ${reason}): removing the unfinished snapshot`);
      await this.#abort();
      return "aborted" as const;
    });
    // a task stopped through the API says so to its client; a server shutdown says that
    task.signal.addEventListener("abort", () => void this.shutdown((task.signal.reason as Error | undefined)?.message), { once: true });
  }

  /** Server shutdown or task stop: end the session; an unfinished backup is removed. */
  async shutdown(reason = "server shutting down"): Promise<void> {
    this.transport.close(CLOSE_CODES.GOING_AWAY, reason);
    await this.done;
  }

  async #abort(): Promise<void> {
    if (this.#state === "aborted" || this.#state === "finished") return;
    this.#state = "aborted";
    for (const s of this.#indexes.values()) {
      if (!s.closed) await (s.dyn ?? s.fixed)?.abort().catch(() => {});
    }
    await this.#writer.abort().catch(() => {});
  }

  #open(): void {
    if (this.#state !== "open") throw new ProtocolError("ERR_SESSION_STATE", `backup session is ${this.#state}`);
  }

  #slot(wid: number, kind: "dynamic" | "fixed"): IndexSlot {
    const s = this.#indexes.get(wid);
    if (!s || s.kind !== kind) throw new ProtocolError("ERR_BAD_REQUEST", `no ${kind} index writer with wid ${wid}`);
    if (s.closed) throw new ProtocolError("ERR_SESSION_STATE", `index ${s.name} (wid ${wid}) is already closed`);
    return s;
  }

  #claimName(name: string): void {
    if (name === MANIFEST) return;
    if (this.#names.has(name)) throw new ProtocolError("ERR_EXISTS", `${name} was already uploaded in this session`);
    this.#names.add(name);
  }

  async #dispatch(op: string, p: Record<string, unknown>, body: Buffer): Promise<{ result: unknown; body?: Uint8Array }> {
    this.#open();
    switch (op) {
      case "previous_backup_time":
        return { result: { time: this.#writer.base?.time ?? null } };
      case "previous":
        return this.#previous(p as BackupParams<"previous">);
      case "dynamic_index":
      case "fixed_index":
        return { result: { wid: await this.#createIndex(op, p) } };
      case "dynamic_chunk":
      case "fixed_chunk":
        return { result: await this.#chunk(op === "dynamic_chunk" ? "dynamic" : "fixed", p as BackupParams<"dynamic_chunk">, body) };
      case "dynamic_append":
      case "fixed_append": {
        const kind = op === "dynamic_append" ? "dynamic" : "fixed";
        const params = p as BackupParams<"dynamic_append">;
        const slot = this.#slot(params.wid, kind);
        return { result: await this.#serial(slot, () => this.#append(slot, params)) };
      }
      case "dynamic_close":
      case "fixed_close": {
        const params = p as BackupParams<"dynamic_close">;
        const slot = this.#slot(params.wid, op === "dynamic_close" ? "dynamic" : "fixed");
        return { result: await this.#serial(slot, () => this.#close(slot, params)) };
      }
      case "blob":
        return { result: await this.#blob(p as BackupParams<"blob">, body) };
      case "finish":
        return { result: await this.#finish() };
      case "speedtest":
        return { result: { bytes: body.length } };
      default:
        throw new ProtocolError("ERR_UNKNOWN_OP", `unknown op ${op}`);
    }
  }

  #serial<T>(slot: IndexSlot, fn: () => Promise<T>): Promise<T> {
    const next = slot.chain.then(fn);
    slot.chain = next.catch(() => {});
    return next;
  }

  async #previous(p: BackupParams<"previous">): Promise<{ result: unknown; body: Buffer }> {
    const base = this.#writer.base;
    if (!base) throw new ProtocolError("ERR_NOT_FOUND", "this backup has no previous snapshot");
    const name = p["archive-name"];
    const layout = this.#writer.store.layout;
    const file = name === MANIFEST ? layout.manifestPath(base) : layout.archivePath(base, name);
    let data: Buffer;
    try {
      data = await fs.promises.readFile(file);
    } catch {
      throw new ProtocolError("ERR_NOT_FOUND", `previous snapshot has no file ${name}`);
    }
    if (name.endsWith(".didx") || name.endsWith(".fidx")) {
      const idx = name.endsWith(".didx") ? DynamicIndexReader.fromBuffer(data) : FixedIndexReader.fromBuffer(data);
      for (let i = 0; i < idx.chunkCount; i++) {
        const c = idx.chunkInfo(i);
        const hex = c.digest.toString("hex");
        if (!this.#known.has(hex)) this.#unconfirmed.add(hex);
        this.#known.set(hex, c.end - c.start);
      }
      this.#task.log(`previous ${name}: ${idx.chunkCount} known chunks`);
    }
    return { result: { size: data.length }, body: data };
  }

  async #createIndex(op: "dynamic_index" | "fixed_index", p: Record<string, unknown>): Promise<number> {
    const name = p["archive-name"] as string;
    const kind = op === "dynamic_index" ? "dynamic" : "fixed";
    const ext = kind === "dynamic" ? ".didx" : ".fidx";
    if (!name.endsWith(ext)) throw new ProtocolError("ERR_BAD_NAME", `${kind} index name must end in ${ext}: ${name}`);
    this.#claimName(name);
    const path = this.#writer.archivePath(name);
    const wid = this.#nextWid++;
    const slot: IndexSlot = { kind, name, chunkSize: 0, declaredSize: 0, offset: 0, count: 0, closed: false, chain: Promise.resolve() };
    if (kind === "dynamic") {
      slot.dyn = await DynamicIndexWriter.create(path);
    } else {
      const params = p as BackupParams<"fixed_index">;
      slot.chunkSize = params["chunk-size"] ?? 4 * 1024 * 1024;
      slot.declaredSize = params.size;
      // PBS's reader and GC refuse a fixed index with no entries; it is never written
      if (params.size === 0) {
        this.#names.delete(name);
        throw new ProtocolError("ERR_BAD_REQUEST", `${name}: size must be at least 1 byte (a fixed index with no entries cannot be read by PBS)`);
      }
      // The writer keeps the digest table in memory: refuse tables a client could use to
      // exhaust it (2^22 entries = 128 MiB of digests, 16 TiB at the default chunk size).
      if (Math.ceil(params.size / slot.chunkSize) > MAX_FIXED_ENTRIES) {
        this.#names.delete(name);
        throw new ProtocolError("ERR_BAD_REQUEST", `${name}: ${params.size} bytes in ${slot.chunkSize}-byte chunks exceeds ${MAX_FIXED_ENTRIES} index entries`);
      }
      slot.fixed = await FixedIndexWriter.create(path, { size: params.size, chunkSize: slot.chunkSize });
    }
    this.#indexes.set(wid, slot);
    return wid;
  }

  async #chunk(kind: "dynamic" | "fixed", p: BackupParams<"dynamic_chunk">, body: Buffer): Promise<{ digest: string; existed: boolean }> {
    const slot = this.#slot(p.wid, kind);
    const reject = (code: "ERR_CHUNK_TOO_LARGE" | "ERR_CHUNK_SIZE", msg: string) => {
      this.stats.rejected++;
      return new ProtocolError(code, msg);
    };
    if (p.size > MAX_CHUNK_SIZE || body.length > MAX_CHUNK_ENCODED_SIZE) {
      throw reject("ERR_CHUNK_TOO_LARGE", `chunk ${p.digest} too large: ${p.size} plain / ${body.length} encoded bytes (limit ${MAX_CHUNK_SIZE})`);
    }
    if (body.length !== p["encoded-size"]) {
      throw reject("ERR_CHUNK_SIZE", `chunk ${p.digest}: declared encoded size ${p["encoded-size"]}, received ${body.length} bytes`);
    }
    if (kind === "fixed" && p.size > slot.chunkSize) {
      throw reject("ERR_CHUNK_SIZE", `chunk ${p.digest} of ${p.size} bytes exceeds the index chunk size ${slot.chunkSize}`);
    }
    const { result, blob } = await this.#pool.checkChunk({ digest: p.digest, size: p.size, encodedSize: p["encoded-size"], blob: body });
    if (!result.ok) {
      this.stats.rejected++;
      throw new ProtocolError(result.code as "ERR_CHUNK_CRC", result.message);
    }
    this.#open();
    const r = await this.#writer.insertChunk(p.digest, blob);
    this.#known.set(p.digest, p.size);
    this.#unconfirmed.delete(p.digest);
    this.stats.chunks++;
    this.stats.chunkBytes += blob.length;
    if (r.existed) this.stats.existed++;
    return { digest: p.digest, existed: r.existed };
  }

  async #append(slot: IndexSlot, p: BackupParams<"dynamic_append">): Promise<{ count: number }> {
    const digests = p["digest-list"];
    const offsets = p["offset-list"];
    if (digests.length !== offsets.length) {
      throw new ProtocolError("ERR_BAD_REQUEST", `digest-list has ${digests.length} entries, offset-list ${offsets.length}`);
    }
    for (let i = 0; i < digests.length; i++) {
      const d = digests[i];
      const size = this.#known.get(d);
      if (size === undefined) {
        throw new ProtocolError("ERR_CHUNK_UNKNOWN", `${slot.name}: chunk ${d} is unknown to this session (upload it first)`);
      }
      if (this.#unconfirmed.has(d)) {
        if (!this.#writer.touchKnownChunk(d)) {
          this.#known.delete(d);
          this.#unconfirmed.delete(d);
          throw new ProtocolError("ERR_CHUNK_UNKNOWN", `${slot.name}: chunk ${d} of the previous snapshot is no longer in the datastore (missing or marked bad by verify): upload it`);
        }
        this.#unconfirmed.delete(d);
      }
      const offset = offsets[i];
      const digest = Buffer.from(d, "hex");
      if (slot.kind === "dynamic") {
        if (offset !== slot.offset) {
          throw new ProtocolError("ERR_BAD_REQUEST", `${slot.name}: chunk ${d} appended at offset ${offset}, index ends at ${slot.offset}`);
        }
        if (size === 0) throw new ProtocolError("ERR_CHUNK_SIZE", `${slot.name}: empty chunk ${d} cannot be appended`);
        await slot.dyn!.add(offset + size, digest);
        slot.offset = offset + size;
      } else {
        const cs = slot.chunkSize;
        const expected = Math.min(cs, slot.declaredSize - offset);
        if (offset % cs !== 0 || offset >= slot.declaredSize || size !== expected) {
          throw new ProtocolError(
            "ERR_BAD_REQUEST",
            `${slot.name}: chunk ${d} of ${size} bytes does not fit at offset ${offset} (chunk size ${cs}, image ${slot.declaredSize})`,
          );
        }
        slot.fixed!.setChunk(offset / cs, digest);
        slot.offset += size;
      }
      slot.count++;
    }
    return { count: digests.length };
  }

  async #close(slot: IndexSlot, p: BackupParams<"dynamic_close">): Promise<{ csum: string; size: number }> {
    const mismatch = (what: string) => new ProtocolError("ERR_INDEX_MISMATCH", `${slot.name}: ${what}`);
    if (p["chunk-count"] !== slot.count) throw mismatch(`client counted ${p["chunk-count"]} chunks, server ${slot.count}`);
    const size = slot.kind === "dynamic" ? slot.offset : slot.declaredSize;
    if (p.size !== size) throw mismatch(`client size ${p.size}, server ${size}`);
    let csum: string;
    if (slot.kind === "fixed") {
      if (slot.offset !== slot.declaredSize) throw mismatch(`only ${slot.offset} of ${slot.declaredSize} bytes were appended`);
      csum = slot.fixed!.computeCsum().toString("hex");
      if (csum !== p.csum) throw mismatch(`csum ${p.csum} does not match the server's ${csum}`);
      await slot.fixed!.close();
    } else {
      const r = await slot.dyn!.close();
      csum = r.csum.toString("hex");
      if (csum !== p.csum) {
        await fs.promises.rm(this.#writer.archivePath(slot.name), { force: true });
        slot.closed = true;
        throw mismatch(`csum ${p.csum} does not match the server's ${csum}`);
      }
    }
    slot.closed = true;
    this.#writer.registerIndex(slot.name, { csum, size });
    this.#files.set(slot.name, { size, csum });
    this.#task.log(`closed ${slot.name}: ${slot.count} chunks, ${size} bytes`);
    return { csum, size };
  }

  async #blob(p: BackupParams<"blob">, body: Buffer): Promise<{ size: number }> {
    const name = p["file-name"];
    if (!name.endsWith(".blob")) throw new ProtocolError("ERR_BAD_NAME", `blob name must end in .blob: ${name}`);
    if (body.length !== p["encoded-size"]) {
      throw new ProtocolError("ERR_BLOB_INVALID", `${name}: declared ${p["encoded-size"]} bytes, received ${body.length}`);
    }
    let decoded: Buffer | undefined;
    try {
      decoded = decodeBlob(body);
    } catch (err) {
      // Encrypted blobs cannot be decoded here; their CRC was checked before the key was needed.
      if ((err as { code?: string }).code !== "ERR_BLOB_NEEDS_KEY") {
        throw new ProtocolError("ERR_BLOB_INVALID", `${name} is not a valid blob: ${(err as Error).message}`);
      }
    }
    if (name === MANIFEST) {
      if (!decoded) throw new ProtocolError("ERR_MANIFEST_INVALID", "the manifest must not be encrypted");
      this.#checkManifest(decoded);
      this.#manifest = Buffer.from(body);
      return { size: body.length };
    }
    this.#claimName(name);
    const r = await this.#writer.writeBlob(name, body);
    this.#files.set(name, r);
    return { size: r.size };
  }

  #checkManifest(json: Buffer): void {
    let m: unknown;
    try {
      m = JSON.parse(json.toString("utf8"));
    } catch {
      throw new ProtocolError("ERR_MANIFEST_INVALID", "index.json.blob does not hold JSON");
    }
    const snap = this.#writer.snapshot;
    const o = m as Record<string, unknown>;
    if (!o || typeof o !== "object" || !Array.isArray(o.files)) throw new ProtocolError("ERR_MANIFEST_INVALID", "manifest has no files list");
    if (o["backup-type"] !== snap.type || o["backup-id"] !== snap.id || o["backup-time"] !== snap.time) {
      throw new ProtocolError("ERR_MANIFEST_INVALID", `manifest does not describe snapshot ${snap.type}/${snap.id}/${snap.time}`);
    }
  }

  async #finish(): Promise<{ snapshot: string }> {
    const open = [...this.#indexes.values()].filter((s) => !s.closed);
    if (open.length > 0) throw new ProtocolError("ERR_SESSION_STATE", `index writers still open: ${open.map((s) => s.name).join(", ")}`);
    if (!this.#manifest) throw new ProtocolError("ERR_MANIFEST_INVALID", "upload the manifest (index.json.blob) before finish");
    const m = JSON.parse(decodeBlob(this.#manifest).toString("utf8")) as { files: Array<{ filename: string; size: number; csum: string }> };
    if (m.files.length === 0 || this.#files.size === 0) throw new ProtocolError("ERR_MANIFEST_INVALID", "a snapshot needs at least one file");
    for (const f of m.files) {
      const have = this.#files.get(f.filename);
      if (!have) throw new ProtocolError("ERR_MANIFEST_INVALID", `manifest lists ${f.filename}, which was not uploaded in this session`);
      if (have.size !== f.size || have.csum !== f.csum) {
        throw new ProtocolError("ERR_MANIFEST_INVALID", `manifest entry ${f.filename} (size ${f.size}, csum ${f.csum}) does not match the upload (size ${have.size}, csum ${have.csum})`);
      }
    }
    this.#state = "finishing";
    try {
      await this.#writer.finish(this.#manifest);
    } catch (err) {
      this.#state = "open";
      throw err;
    }
    this.#state = "finished";
    const snap = this.#writer.snapshot;
    const name = `${snap.type}/${snap.id}/${new Date(snap.time * 1000).toISOString().replace(/\.\d{3}Z$/, "Z")}`;
    this.#task.log(`finished ${name}: ${this.stats.chunks} chunks uploaded (${this.stats.chunkBytes} bytes, ${this.stats.existed} already stored)`);
    setImmediate(() => this.transport.close(CLOSE_CODES.NORMAL, "backup finished"));
    return { snapshot: name };
  }
}

export function sha256Hex(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}
