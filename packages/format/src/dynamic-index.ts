// Dynamic index (.didx): the chunk list of a file archive, 40-byte entries `end u64 | digest`
// after the 4096-byte header (spec: format.md, "Dynamic index"). The reader holds the body in
// one Buffer plus a Float64Array of end offsets (exact below 2^53) for binary search; the writer
// streams entries to `name.tmp` in 1 MiB batches while hashing them for index_csum.

import { createHash, type Hash } from "node:crypto";
import { type FileHandle, open, readFile } from "node:fs/promises";
import { FormatError } from "./errors.js";
import type { ChunkInfo, IndexCloseResult, IndexReadOptions } from "./fixed-index.js";
import { commitTmp, removeQuietly, tmpPathFor } from "./internal/atomic-file.js";
import { checkExpected } from "./internal/index-checks.js";
import { assertDigest, DIGEST_SIZE } from "./internal/hex.js";
import {
  DYNAMIC_ENTRY_SIZE,
  decodeIndexHeader,
  encodeIndexHeader,
  HEADER_SIZE,
  INDEX_OFFSET_CSUM,
  type IndexIdentity,
  readSafeU64,
  resolveIdentity,
  writeU64,
} from "./index-header.js";
import { DYNAMIC_INDEX_MAGIC } from "./magic.js";

const WRITE_BATCH_ENTRIES = 26_214; // ~1 MiB of entries per write
const SETTLED: Promise<void> = Promise.resolve();

export interface DynamicIndexEntry {
  /** End offset of the chunk in the archive (exclusive). */
  end: number;
  digest: Uint8Array;
}

export class DynamicIndexReader {
  readonly uuid: Buffer;
  readonly ctime: number;
  readonly indexCsum: Buffer;
  readonly chunkCount: number;
  /** Archive size: the end offset of the last chunk. */
  readonly size: number;
  readonly #body: Buffer;
  readonly #ends: Float64Array;

  private constructor(buf: Buffer, options: IndexReadOptions) {
    const header = decodeIndexHeader(buf, "dynamic");
    this.uuid = header.uuid;
    this.ctime = header.ctime;
    this.indexCsum = header.indexCsum;
    const body = buf.subarray(HEADER_SIZE);
    if (body.length % DYNAMIC_ENTRY_SIZE !== 0) {
      throw new FormatError(
        "ERR_INDEX_ENTRY_SIZE",
        `dynamic index body of ${body.length} bytes is not a whole number of ${DYNAMIC_ENTRY_SIZE}-byte entries`,
      );
    }
    const count = body.length / DYNAMIC_ENTRY_SIZE;
    const ends = new Float64Array(count);
    let prev = 0;
    for (let i = 0, pos = 0; i < count; i++, pos += DYNAMIC_ENTRY_SIZE) {
      const end = readSafeU64(body, pos);
      if (end === undefined || end <= prev) {
        throw new FormatError(
          "ERR_INDEX_OFFSETS",
          `dynamic index entry ${i} ends at ${body.readBigUInt64LE(pos)}, not after the previous end ${prev}`,
        );
      }
      ends[i] = end;
      prev = end;
    }
    this.#body = body;
    this.#ends = ends;
    this.chunkCount = count;
    this.size = prev;
    if (options.verifyCsum !== false) {
      const actual = this.computeCsum();
      if (!actual.equals(this.indexCsum)) {
        throw new FormatError(
          "ERR_INDEX_CSUM",
          `dynamic index csum mismatch: header ${this.indexCsum.toString("hex")}, entries give ${actual.toString("hex")}`,
        );
      }
    }
    checkExpected("dynamic index", this.indexCsum, this.size, options);
  }

  static async open(path: string, options: IndexReadOptions = {}): Promise<DynamicIndexReader> {
    return new DynamicIndexReader(await readFile(path), options);
  }

  /** Decodes index bytes held in memory (the buffer is kept, not copied). */
  static fromBuffer(buf: Buffer, options: IndexReadOptions = {}): DynamicIndexReader {
    return new DynamicIndexReader(buf, options);
  }

  #check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.chunkCount) {
      throw new FormatError("ERR_INDEX_RANGE", `chunk ${i} out of range (index has ${this.chunkCount})`);
    }
  }

  digest(i: number): Buffer {
    this.#check(i);
    const pos = i * DYNAMIC_ENTRY_SIZE + 8;
    return this.#body.subarray(pos, pos + DIGEST_SIZE);
  }

  chunkEnd(i: number): number {
    this.#check(i);
    return this.#ends[i];
  }

  chunkInfo(i: number): ChunkInfo {
    const digest = this.digest(i);
    return { start: i === 0 ? 0 : this.#ends[i - 1], end: this.#ends[i], digest };
  }

  /** The chunk holding byte `offset` (binary search), or undefined past the end. */
  chunkFromOffset(offset: number): number | undefined {
    if (!(offset >= 0 && offset < this.size)) return undefined;
    const ends = this.#ends;
    let lo = 0;
    let hi = ends.length - 1;
    // Find the first chunk whose end is beyond offset.
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ends[mid] <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  computeCsum(): Buffer {
    return createHash("sha256").update(this.#body).digest();
  }

  *[Symbol.iterator](): IterableIterator<ChunkInfo> {
    for (let i = 0; i < this.chunkCount; i++) yield this.chunkInfo(i);
  }

  /** Distinct digests, for GC marking and verify. */
  uniqueDigests(): Set<string> {
    const seen = new Set<string>();
    for (let i = 0; i < this.chunkCount; i++) seen.add(this.digest(i).toString("hex"));
    return seen;
  }
}

function checkEntry(end: number, prev: number, digest: Uint8Array, i: number): void {
  if (!Number.isSafeInteger(end) || end <= prev) {
    throw new FormatError("ERR_INDEX_OFFSETS", `dynamic index entry ${i}: end offset ${end} must be an integer after ${prev}`);
  }
  assertDigest(digest, `digest of entry ${i}`);
}

/** Builds dynamic index bytes in memory (fixtures, tests). */
export function encodeDynamicIndex(options: IndexIdentity & { entries: readonly DynamicIndexEntry[] }): Buffer {
  const body = Buffer.alloc(options.entries.length * DYNAMIC_ENTRY_SIZE);
  let prev = 0;
  options.entries.forEach((e, i) => {
    checkEntry(e.end, prev, e.digest, i);
    writeU64(body, e.end, i * DYNAMIC_ENTRY_SIZE);
    body.set(e.digest, i * DYNAMIC_ENTRY_SIZE + 8);
    prev = e.end;
  });
  const csum = createHash("sha256").update(body).digest();
  return Buffer.concat([encodeIndexHeader(DYNAMIC_INDEX_MAGIC, { ...resolveIdentity(options), indexCsum: csum }), body]);
}

/**
 * Streams a .didx to `name.tmp`; `close` patches the csum into the header, fsyncs and renames.
 * After any I/O error the writer is broken: every further call fails and `abort` cleans up.
 */
export class DynamicIndexWriter {
  readonly path: string;
  readonly #fh: FileHandle;
  readonly #hash: Hash = createHash("sha256");
  readonly #header: Buffer;
  #batch = Buffer.allocUnsafe(WRITE_BATCH_ENTRIES * DYNAMIC_ENTRY_SIZE);
  #batchLen = 0;
  #filePos = HEADER_SIZE;
  #count = 0;
  #end = 0;
  #state: "open" | "closed" | "broken" = "open";
  #tail: Promise<void> = SETTLED;
  #failure: unknown;

  private constructor(path: string, fh: FileHandle, header: Buffer) {
    this.path = path;
    this.#fh = fh;
    this.#header = header;
  }

  static async create(path: string, identity: IndexIdentity = {}): Promise<DynamicIndexWriter> {
    const header = encodeIndexHeader(DYNAMIC_INDEX_MAGIC, { ...resolveIdentity(identity), indexCsum: Buffer.alloc(DIGEST_SIZE) });
    const fh = await open(tmpPathFor(path), "w");
    try {
      await fh.write(header, 0, HEADER_SIZE, 0);
    } catch (err) {
      await fh.close().catch(() => {});
      await removeQuietly(tmpPathFor(path));
      throw err;
    }
    return new DynamicIndexWriter(path, fh, header);
  }

  get chunkCount(): number {
    return this.#count;
  }

  /** Bytes of archive covered so far. */
  get size(): number {
    return this.#end;
  }

  #usable(): void {
    if (this.#state !== "open") {
      throw new FormatError("ERR_WRITER_CLOSED", `dynamic index writer for ${this.path} is ${this.#state}`, { cause: this.#failure });
    }
  }

  /**
   * Appends the chunk that ends at `endOffset`; offsets must strictly increase. Not an async
   * function on purpose: between batch writes it returns one shared settled promise instead of
   * allocating a new one per call (about 10% of the time for a million entries).
   */
  add(endOffset: number, digest: Uint8Array): Promise<void> {
    try {
      this.#usable();
      checkEntry(endOffset, this.#end, digest, this.#count);
    } catch (err) {
      return Promise.reject(err);
    }
    const pos = this.#batchLen;
    writeU64(this.#batch, endOffset, pos);
    this.#batch.set(digest, pos + 8);
    this.#batchLen = pos + DYNAMIC_ENTRY_SIZE;
    this.#end = endOffset;
    this.#count++;
    return this.#batchLen === this.#batch.length ? this.#flush() : SETTLED;
  }

  // The batch is handed off synchronously and written at its own file position, so callers
  // that do not await every `add` cannot overwrite a batch in flight; writes are chained so
  // `close` can wait for all of them and the first failure breaks the writer.
  #flush(): Promise<void> {
    if (this.#batchLen === 0) return this.#tail.then(() => this.#throwIfBroken());
    const data = this.#batch.subarray(0, this.#batchLen);
    const position = this.#filePos;
    this.#filePos += data.length;
    this.#hash.update(data);
    this.#batch = Buffer.allocUnsafe(this.#batch.length);
    this.#batchLen = 0;
    this.#tail = this.#tail.then(async () => {
      if (this.#state === "broken") return;
      try {
        await this.#fh.write(data, 0, data.length, position);
      } catch (err) {
        this.#state = "broken";
        this.#failure = err;
      }
    });
    return this.#tail.then(() => this.#throwIfBroken());
  }

  #throwIfBroken(): void {
    if (this.#state === "broken") {
      // a full disk stays a full disk (the server answers it as ERR_NO_SPACE), on every later call too
      const code = (this.#failure as { code?: unknown } | undefined)?.code;
      if (code === "ENOSPC" || code === "EDQUOT") throw this.#failure;
      throw new FormatError("ERR_WRITER_CLOSED", `dynamic index writer for ${this.path} broke on a write error (${(this.#failure as Error)?.message})`, { cause: this.#failure });
    }
  }

  async close(): Promise<IndexCloseResult> {
    this.#usable();
    const tmp = tmpPathFor(this.path);
    try {
      await this.#flush();
      const csum = this.#hash.digest();
      csum.copy(this.#header, INDEX_OFFSET_CSUM);
      await this.#fh.write(this.#header, INDEX_OFFSET_CSUM, DIGEST_SIZE, INDEX_OFFSET_CSUM);
      await this.#fh.sync();
      await this.#fh.close();
      this.#state = "closed";
      await commitTmp(tmp, this.path);
      return { csum, size: this.#end, chunkCount: this.#count };
    } catch (err) {
      if (this.#state !== "closed") {
        this.#state = "broken";
        this.#failure ??= err;
        await this.#fh.close().catch(() => {});
      }
      await removeQuietly(tmp);
      throw err;
    }
  }

  /** Gives up: waits for writes in flight, closes and removes `name.tmp`. Safe in any state. */
  async abort(): Promise<void> {
    if (this.#state !== "closed") {
      await this.#tail;
      await this.#fh.close().catch(() => {});
    }
    this.#state = "closed";
    await removeQuietly(tmpPathFor(this.path));
  }
}
