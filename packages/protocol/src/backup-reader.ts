// BackupReader: the client side of a reader session (spec: protocol.md "Reader session").
// Files come whole (`download`), chunks as raw blobs (`chunk`); the server serves a chunk only
// after this session downloaded an index that references it, so indexes are opened first.
// `readArchive` streams an archive in order with a window of chunk requests in flight;
// `randomAccess` reads any byte range through the index with a small chunk cache.

import { type CryptConfig, DynamicIndexReader, FixedIndexReader, decodeBlob } from "@cairn/format";
import { type ConnectOptions, resolveEndpoint } from "./connection.js";
import { ProtocolError } from "./errors.js";
import { CLOSE_CODES } from "./framing.js";
import { SessionClient } from "./session-client.js";

export const READER_PATH = "/api2/json/reader";
export type IndexReader = DynamicIndexReader | FixedIndexReader;

export interface BackupReaderOptions extends ConnectOptions {
  store: string;
  ns?: string;
  backupType: "vm" | "ct" | "host";
  backupId: string;
  backupTime: number;
  maxInFlight?: number;
  /** Key for encrypted chunks. */
  crypt?: CryptConfig;
}

export interface RandomAccess {
  size: number;
  read(offset: number, length: number): Promise<Buffer>;
}

export class BackupReader {
  readonly #session: SessionClient;
  readonly #crypt: CryptConfig | undefined;
  readonly #maxInFlight: number;

  private constructor(session: SessionClient, opts: BackupReaderOptions) {
    this.#session = session;
    this.#crypt = opts.crypt;
    this.#maxInFlight = opts.maxInFlight ?? 16;
  }

  static async open(opts: BackupReaderOptions): Promise<BackupReader> {
    const session = await SessionClient.open(
      resolveEndpoint(opts),
      READER_PATH,
      { store: opts.store, ns: opts.ns, "backup-type": opts.backupType, "backup-id": opts.backupId, "backup-time": opts.backupTime },
      opts.maxInFlight ?? 16,
    );
    return new BackupReader(session, opts);
  }

  /** A file of the snapshot as stored (manifest and blobs are still encoded blobs). */
  async download(name: string): Promise<Buffer> {
    return (await this.#session.call("download", { "file-name": name })).body;
  }

  /** The manifest, decoded and parsed. */
  async manifest(): Promise<Record<string, unknown>> {
    const raw = await this.download("index.json.blob");
    return JSON.parse(decodeBlob(raw, { crypt: this.#crypt }).toString("utf8")) as Record<string, unknown>;
  }

  /** A raw chunk blob (still encoded). */
  async chunk(digest: Uint8Array | string): Promise<Buffer> {
    const hex = typeof digest === "string" ? digest : Buffer.from(digest).toString("hex");
    return (await this.#session.call("chunk", { digest: hex })).body;
  }

  async #decodedChunk(digest: Buffer): Promise<Buffer> {
    const raw = await this.chunk(digest);
    return decodeBlob(raw, { crypt: this.#crypt, digest });
  }

  async openDynamicIndex(name: string): Promise<DynamicIndexReader> {
    return DynamicIndexReader.fromBuffer(await this.download(name));
  }

  async openFixedIndex(name: string): Promise<FixedIndexReader> {
    return FixedIndexReader.fromBuffer(await this.download(name));
  }

  async openIndex(name: string): Promise<IndexReader> {
    if (name.endsWith(".didx")) return this.openDynamicIndex(name);
    if (name.endsWith(".fidx")) return this.openFixedIndex(name);
    throw new ProtocolError("ERR_BAD_NAME", `${name} is not an index file (.didx or .fidx)`);
  }

  /** The archive's bytes in order, each chunk decoded and checked against its digest. */
  async *readArchive(name: string): AsyncIterable<Buffer> {
    const index = await this.openIndex(name);
    const n = index.chunkCount;
    const window: Promise<Buffer>[] = [];
    let next = 0;
    // Prefetched chunks may fail while an earlier one is awaited: mark them handled at once, or
    // Node reports an unhandled rejection (and ends the process) before we reach them.
    const fetch = () => {
      const p = this.#decodedChunk(Buffer.from(index.chunkInfo(next++).digest));
      p.catch(() => {});
      window.push(p);
    };
    while (next < n && window.length < this.#maxInFlight) fetch();
    while (window.length > 0) {
      const data = await window.shift()!;
      if (next < n) fetch();
      yield data;
    }
  }

  /** Reads any byte range of an archive or image through its index. */
  async randomAccess(name: string, cacheChunks = 8): Promise<RandomAccess> {
    const index = await this.openIndex(name);
    const cache = new Map<number, Promise<Buffer>>();
    const load = (i: number): Promise<Buffer> => {
      let p = cache.get(i);
      if (p) {
        cache.delete(i);
        cache.set(i, p);
        return p;
      }
      p = this.#decodedChunk(Buffer.from(index.chunkInfo(i).digest));
      p.catch(() => cache.delete(i));
      cache.set(i, p);
      while (cache.size > cacheChunks) cache.delete(cache.keys().next().value as number);
      return p;
    };
    return {
      size: index.size,
      read: async (offset: number, length: number): Promise<Buffer> => {
        if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
          throw new ProtocolError("ERR_BAD_REQUEST", `bad range ${offset}+${length}`);
        }
        const end = Math.min(offset + length, index.size);
        const parts: Buffer[] = [];
        let pos = offset;
        while (pos < end) {
          const i = index.chunkFromOffset(pos)!;
          const info = index.chunkInfo(i);
          const data = await load(i);
          const from = pos - info.start;
          const to = Math.min(end, info.end) - info.start;
          parts.push(data.subarray(from, to));
          pos = info.start + to;
        }
        return Buffer.concat(parts);
      },
    };
  }

  async close(): Promise<void> {
    await this.#session.close(CLOSE_CODES.NORMAL, "reader done");
  }
}
