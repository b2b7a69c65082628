// BackupWriter: the client side of a backup session (spec: protocol.md "Backup session").
// It keeps the set of known chunks (from the base snapshot's indexes and this session's
// uploads), uploads only the others with a bounded window of requests in flight, batches
// appends in order behind the uploads they reference, and counts the bytes saved by dedup.
// After the first failure the writer is broken: every later call throws that error.

import { createHash, type Hash } from "node:crypto";
import { DynamicIndexReader, FixedIndexReader, decodeBlob, encodeBlob } from "@cairn/format";
import { type ConnectOptions, resolveEndpoint } from "./connection.js";
import { ProtocolError } from "./errors.js";
import { CLOSE_CODES } from "./framing.js";
import { DEFAULT_FIXED_CHUNK_SIZE } from "./limits.js";
import { type Answer, SessionClient } from "./session-client.js";

export const BACKUP_PATH = "/api2/json/backup";
export const MANIFEST_NAME = "index.json.blob";
const APPEND_BATCH = 512;

export type CryptMode = "none" | "encrypt" | "sign-only";

export interface BackupWriterOptions extends ConnectOptions {
  store: string;
  ns?: string;
  backupType: "vm" | "ct" | "host";
  backupId: string;
  /** Snapshot time, epoch seconds. */
  backupTime: number;
  /** Requests in flight at once (default 32). */
  maxInFlight?: number;
}

export interface BackupStats {
  /** Chunks sent to the server in this session. */
  uploadedChunks: number;
  /** Encoded bytes of those chunks. */
  uploadedBytes: number;
  /** Chunks not sent because the server already had them for this session. */
  knownChunks: number;
  /** Plain bytes of those chunks: what dedup saved. */
  reusedBytes: number;
}

export interface ManifestFile {
  filename: string;
  "crypt-mode": CryptMode;
  size: number;
  csum: string;
}

export interface IndexCloseInfo {
  csum: string;
  size: number;
  chunkCount: number;
}

type DigestLike = Uint8Array | string;

function hexOf(d: DigestLike): string {
  const hex = typeof d === "string" ? d.toLowerCase() : Buffer.from(d.buffer, d.byteOffset, d.length).toString("hex");
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new ProtocolError("ERR_BAD_REQUEST", `not a 32-byte digest: ${hex.slice(0, 80)}`);
  return hex;
}

export class BackupWriter {
  readonly knownChunks = new Set<string>();
  readonly stats: BackupStats = { uploadedChunks: 0, uploadedBytes: 0, knownChunks: 0, reusedBytes: 0 };
  readonly files: ManifestFile[] = [];
  readonly options: BackupWriterOptions;
  readonly #session: SessionClient;
  /** Upload answers not yet seen, by digest, so appends can wait for exactly the chunks they name. */
  readonly #uploading = new Map<string, Promise<unknown>>();
  readonly #handles = new Set<IndexUploadHandle>();
  #error: Error | undefined;
  #state: "open" | "finished" | "aborted" = "open";
  /** The `finish` call while it is on its way; an abort waits for its answer. */
  #finishing: Promise<void> | undefined;
  #serverFinished = false;

  private constructor(session: SessionClient, options: BackupWriterOptions) {
    this.#session = session;
    this.options = options;
  }

  static async start(options: BackupWriterOptions): Promise<BackupWriter> {
    const ep = resolveEndpoint(options);
    const session = await SessionClient.open(
      ep,
      BACKUP_PATH,
      {
        store: options.store,
        ns: options.ns,
        "backup-type": options.backupType,
        "backup-id": options.backupId,
        "backup-time": options.backupTime,
      },
      options.maxInFlight ?? 32,
    );
    return new BackupWriter(session, options);
  }

  /** @internal */
  usable(): void {
    if (this.#error) throw this.#error;
    if (this.#state !== "open") throw new ProtocolError("ERR_SESSION_STATE", `backup session is ${this.#state}`);
  }

  /** @internal */
  fail(err: unknown): Error {
    const e = err instanceof Error ? err : new Error(String(err));
    if (!this.#error) this.#error = e;
    return this.#error;
  }

  /** @internal */
  async call(op: string, params: Record<string, unknown> = {}, body?: Uint8Array): Promise<Answer> {
    this.usable();
    try {
      return await this.#session.call(op, params, body);
    } catch (err) {
      // An error answer for one request leaves the session usable; a transport failure does not.
      if (this.#session.broken) throw this.fail(err);
      throw err;
    }
  }

  /** Time of the snapshot this backup builds on (newest finished, not failed verify), or null. */
  async previousBackupTime(): Promise<number | null> {
    const { result } = await this.call("previous_backup_time");
    return (result as { time: number | null }).time;
  }

  /**
   * Downloads a file of the base snapshot. For an index, its digests become known chunks on
   * both ends, so the session will not upload them again.
   */
  async downloadPrevious(name: string): Promise<Buffer> {
    const { body } = await this.call("previous", { "archive-name": name });
    if (name.endsWith(".didx") || name.endsWith(".fidx")) {
      const reader = name.endsWith(".didx") ? DynamicIndexReader.fromBuffer(body) : FixedIndexReader.fromBuffer(body);
      for (const d of reader.uniqueDigests()) this.knownChunks.add(d);
    }
    return body;
  }

  /** The base snapshot's manifest as JSON, or null when there is no base snapshot. */
  async previousManifest(): Promise<Record<string, unknown> | null> {
    if ((await this.previousBackupTime()) === null) return null;
    const raw = await this.downloadPrevious(MANIFEST_NAME);
    return JSON.parse(decodeBlob(raw).toString("utf8")) as Record<string, unknown>;
  }

  async createDynamicIndex(name: string, opts: { cryptMode?: CryptMode } = {}): Promise<IndexUploadHandle> {
    const { result } = await this.call("dynamic_index", { "archive-name": name });
    const h = new IndexUploadHandle(this, "dynamic", name, (result as { wid: number }).wid, opts.cryptMode ?? "none");
    this.#handles.add(h);
    return h;
  }

  async createFixedIndex(name: string, size: number, opts: { chunkSize?: number; cryptMode?: CryptMode } = {}): Promise<IndexUploadHandle> {
    const chunkSize = opts.chunkSize ?? DEFAULT_FIXED_CHUNK_SIZE;
    const { result } = await this.call("fixed_index", { "archive-name": name, size, "chunk-size": chunkSize });
    const h = new IndexUploadHandle(this, "fixed", name, (result as { wid: number }).wid, opts.cryptMode ?? "none", chunkSize);
    this.#handles.add(h);
    return h;
  }

  /** @internal: sends a chunk unless known; resolves once it is in the window, not when stored. */
  async sendChunk(kind: "dynamic" | "fixed", wid: number, digest: string, plainSize: number, blob: Uint8Array, onSent?: () => void): Promise<boolean> {
    this.usable();
    if (this.knownChunks.has(digest)) {
      this.stats.knownChunks++;
      this.stats.reusedBytes += plainSize;
      return false;
    }
    this.knownChunks.add(digest);
    // Read before sending: with onSent the caller may take the blob's memory back once it is written.
    const encodedSize = blob.length;
    let answer: Promise<Answer>;
    try {
      ({ answer } = await this.#session.enqueue(`${kind}_chunk`, { wid, digest, size: plainSize, "encoded-size": encodedSize }, blob, onSent));
    } catch (err) {
      throw this.fail(err);
    }
    this.stats.uploadedChunks++;
    this.stats.uploadedBytes += encodedSize;
    const tracked = answer.then(
      () => {
        this.#uploading.delete(digest);
      },
      (err) => {
        this.#uploading.delete(digest);
        throw this.fail(err);
      },
    );
    tracked.catch(() => {});
    this.#uploading.set(digest, tracked);
    return true;
  }

  /** @internal */
  async waitUploads(digests: Iterable<string>): Promise<void> {
    const waits: Promise<unknown>[] = [];
    for (const d of digests) {
      const p = this.#uploading.get(d);
      if (p) waits.push(p);
    }
    await Promise.all(waits);
    this.usable();
  }

  /** @internal */
  closed(h: IndexUploadHandle, file: ManifestFile): void {
    this.#handles.delete(h);
    this.files.push(file);
  }

  /** Stores a small file; `bytes` must already be an encoded blob (see format's encodeBlob). */
  async uploadBlob(name: string, bytes: Uint8Array, opts: { cryptMode?: CryptMode } = {}): Promise<ManifestFile> {
    await this.call("blob", { "file-name": name, "encoded-size": bytes.length }, bytes);
    const file: ManifestFile = {
      filename: name,
      "crypt-mode": opts.cryptMode ?? "none",
      size: bytes.length,
      csum: createHash("sha256").update(bytes).digest("hex"),
    };
    if (name !== MANIFEST_NAME) this.files.push(file);
    return file;
  }

  /** The manifest JSON this writer would upload (unsigned), from the files closed so far. */
  manifest(unprotected: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      "backup-type": this.options.backupType,
      "backup-id": this.options.backupId,
      "backup-time": this.options.backupTime,
      files: this.files,
      unprotected: { ...unprotected, "chunk-upload-stats": { ...this.stats } },
    };
  }

  /**
   * Uploads the manifest (the given encoded blob, or an unsigned one built from the closed
   * files) and marks the snapshot finished. All index handles must be closed.
   */
  async finish(opts: { manifestBlob?: Uint8Array } = {}): Promise<void> {
    this.usable();
    if (this.#handles.size > 0) {
      throw new ProtocolError("ERR_SESSION_STATE", `close the index writers first: ${[...this.#handles].map((h) => h.name).join(", ")}`);
    }
    await this.waitUploads([...this.#uploading.keys()]);
    const blob = opts.manifestBlob ?? encodeBlob(Buffer.from(JSON.stringify(this.manifest())), { compress: true });
    await this.uploadBlob(MANIFEST_NAME, blob);
    this.#finishing = this.call("finish").then(() => {
      this.#serverFinished = true;
    });
    await this.#finishing;
    this.#state = "finished";
    await this.#session.close(CLOSE_CODES.NORMAL, "finished");
  }

  /** True once the server has answered `finish`: the snapshot exists, whatever happens next. */
  get finished(): boolean {
    return this.#serverFinished;
  }

  /**
   * Gives up: the server removes the unfinished snapshot. Safe to call in any state. With a
   * `finish` already sent it waits for the answer instead: the server may have made the snapshot,
   * and `finished` then says so.
   */
  async abort(): Promise<void> {
    if (this.#finishing) await this.#finishing.catch(() => {});
    if (this.#state !== "open" || this.#serverFinished) return;
    this.#state = "aborted";
    await this.#session.close(CLOSE_CODES.ABORT, "client aborted the backup");
  }

  /** @internal, for tests: drop the connection without a close handshake. */
  terminate(): void {
    this.#state = "aborted";
    this.#session.terminate();
  }
}

/** One index being written on the server (a `wid`): chunks, appends, close. */
export class IndexUploadHandle {
  readonly #w: BackupWriter;
  readonly kind: "dynamic" | "fixed";
  readonly name: string;
  readonly wid: number;
  readonly cryptMode: CryptMode;
  readonly chunkSize: number | undefined;
  readonly #csum: Hash = createHash("sha256");
  #offset = 0;
  #count = 0;
  #digests: string[] = [];
  #offsets: number[] = [];
  #appendChain: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(w: BackupWriter, kind: "dynamic" | "fixed", name: string, wid: number, cryptMode: CryptMode, chunkSize?: number) {
    this.#w = w;
    this.kind = kind;
    this.name = name;
    this.wid = wid;
    this.cryptMode = cryptMode;
    this.chunkSize = chunkSize;
  }

  /** Bytes appended so far (the archive or image size at close). */
  get size(): number {
    return this.#offset;
  }

  /**
   * Uploads a chunk unless the session knows it. Resolves when the request is on its way
   * (true) or skipped (false); a failed upload surfaces on a later call. `onSent` runs once the
   * blob has been written to the socket (only for a chunk that is sent): from then on the
   * writer holds no reference to `encodedBlob`, so the caller may reuse or hand off its memory.
   */
  uploadChunk(digest: DigestLike, plainSize: number, encodedBlob: Uint8Array, onSent?: () => void): Promise<boolean> {
    this.#open();
    return this.#w.sendChunk(this.kind, this.wid, hexOf(digest), plainSize, encodedBlob, onSent);
  }

  /** Adds a known or uploaded chunk at the current end of the index. */
  async append(digest: DigestLike, plainSize: number): Promise<void> {
    this.#open();
    const hex = hexOf(digest);
    const start = this.#offset;
    this.#offset += plainSize;
    this.#count++;
    if (this.kind === "dynamic") {
      const end = Buffer.alloc(8);
      end.writeBigUInt64LE(BigInt(this.#offset));
      this.#csum.update(end);
    }
    this.#csum.update(Buffer.from(hex, "hex"));
    this.#digests.push(hex);
    this.#offsets.push(start);
    if (this.#digests.length >= APPEND_BATCH) await this.#flush();
  }

  /** uploadChunk + append. */
  async addChunk(digest: DigestLike, plainSize: number, encodedBlob: Uint8Array): Promise<void> {
    await this.uploadChunk(digest, plainSize, encodedBlob);
    await this.append(digest, plainSize);
  }

  #flush(): Promise<void> {
    if (this.#digests.length === 0) return this.#appendChain;
    const digests = this.#digests;
    const offsets = this.#offsets;
    this.#digests = [];
    this.#offsets = [];
    const prev = this.#appendChain;
    this.#appendChain = (async () => {
      await prev;
      await this.#w.waitUploads(digests);
      await this.#w.call(`${this.kind}_append`, { wid: this.wid, "digest-list": digests, "offset-list": offsets });
    })();
    this.#appendChain.catch(() => {});
    return this.#appendChain;
  }

  /** Flushes appends and closes the index; the server recomputes and compares count, size, csum. */
  async close(csum?: string): Promise<IndexCloseInfo> {
    this.#open();
    await this.#flush();
    await this.#appendChain;
    const mine = this.#csum.digest("hex");
    const want = csum ?? mine;
    const { result } = await this.#w.call(`${this.kind}_close`, {
      wid: this.wid,
      "chunk-count": this.#count,
      size: this.#offset,
      csum: want,
    });
    this.#closed = true;
    const r = result as { csum: string; size: number };
    this.#w.closed(this, { filename: this.name, "crypt-mode": this.cryptMode, size: r.size, csum: r.csum });
    return { csum: r.csum, size: r.size, chunkCount: this.#count };
  }

  #open(): void {
    this.#w.usable();
    if (this.#closed) throw new ProtocolError("ERR_SESSION_STATE", `index ${this.name} is closed`);
  }
}
