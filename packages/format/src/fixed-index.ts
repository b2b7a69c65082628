// Fixed index (.fidx): one 32-byte digest per fixed-size chunk of a disk image (spec: format.md,
// "Fixed index"). The reader loads the whole file into one Buffer and decodes entries on demand;
// the writer keeps the digest table in memory (32 bytes per 4 MiB chunk) because image backups
// may set chunks out of order, and writes the file once, via `name.tmp`, at close.

import { createHash } from "node:crypto";
import { open, readFile } from "node:fs/promises";
import { FormatError } from "./errors.js";
import { commitTmp, removeQuietly, tmpPathFor } from "./internal/atomic-file.js";
import { checkExpected } from "./internal/index-checks.js";
import { assertDigest } from "./internal/hex.js";
import {
  DEFAULT_FIXED_CHUNK_SIZE,
  decodeIndexHeader,
  encodeIndexHeader,
  FIXED_ENTRY_SIZE,
  HEADER_SIZE,
  INDEX_OFFSET_CHUNK_SIZE,
  INDEX_OFFSET_SIZE,
  type IndexIdentity,
  readSafeU64,
  resolveIdentity,
  writeU64,
} from "./index-header.js";
import { FIXED_INDEX_MAGIC } from "./magic.js";

export interface ChunkInfo {
  /** First byte of the chunk in the image or archive. */
  start: number;
  /** One past the last byte. */
  end: number;
  /** A view into the index; copy it before keeping it past the reader's life or mutating it. */
  digest: Buffer;
}

export interface IndexReadOptions {
  /** Recompute index_csum and compare with the header (default true). */
  verifyCsum?: boolean;
  /** The csum the manifest lists for this index; a different header csum is ERR_INDEX_CSUM. */
  expectedCsum?: Uint8Array;
  /**
   * The size the manifest lists. Worth giving for fixed indexes: their size and chunk_size
   * header fields are outside index_csum (as in PBS), so only this cross-check covers them.
   */
  expectedSize?: number;
}

export interface FixedIndexOptions extends IndexIdentity {
  /** Total bytes of the image. */
  size: number;
  /** Default 4 MiB. */
  chunkSize?: number;
}

export interface IndexCloseResult {
  csum: Buffer;
  size: number;
  chunkCount: number;
}

function checkGeometry(size: number, chunkSize: number): number {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`fixed index size must be a non-negative integer, got ${size}`);
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) {
    throw new FormatError("ERR_INDEX_CHUNK_SIZE", `fixed index chunk size must be a positive integer, got ${chunkSize}`);
  }
  return Math.ceil(size / chunkSize);
}

function csumOfBody(body: Buffer): Buffer {
  return createHash("sha256").update(body).digest();
}

export class FixedIndexReader {
  readonly uuid: Buffer;
  readonly ctime: number;
  readonly indexCsum: Buffer;
  /** Image size in bytes. */
  readonly size: number;
  readonly chunkSize: number;
  readonly chunkCount: number;
  readonly #body: Buffer;

  private constructor(buf: Buffer, options: IndexReadOptions) {
    const header = decodeIndexHeader(buf, "fixed");
    this.uuid = header.uuid;
    this.ctime = header.ctime;
    this.indexCsum = header.indexCsum;
    const size = readSafeU64(buf, INDEX_OFFSET_SIZE);
    const chunkSize = readSafeU64(buf, INDEX_OFFSET_CHUNK_SIZE);
    if (size === undefined) throw new FormatError("ERR_INDEX_COUNT", "fixed index size does not fit in 2^53 bytes");
    if (chunkSize === undefined || chunkSize === 0) {
      throw new FormatError("ERR_INDEX_CHUNK_SIZE", `fixed index has an invalid chunk size ${buf.readBigUInt64LE(INDEX_OFFSET_CHUNK_SIZE)}`);
    }
    this.size = size;
    this.chunkSize = chunkSize;
    const body = buf.subarray(HEADER_SIZE);
    if (body.length % FIXED_ENTRY_SIZE !== 0) {
      throw new FormatError("ERR_INDEX_ENTRY_SIZE", `fixed index body of ${body.length} bytes is not a whole number of ${FIXED_ENTRY_SIZE}-byte entries`);
    }
    this.chunkCount = body.length / FIXED_ENTRY_SIZE;
    const expected = Math.ceil(size / chunkSize);
    if (this.chunkCount !== expected) {
      throw new FormatError(
        "ERR_INDEX_COUNT",
        `fixed index has ${this.chunkCount} entries but size ${size} / chunk size ${chunkSize} needs ${expected}`,
      );
    }
    this.#body = body;
    if (options.verifyCsum !== false) {
      const actual = this.computeCsum();
      if (!actual.equals(this.indexCsum)) {
        throw new FormatError("ERR_INDEX_CSUM", `fixed index csum mismatch: header ${this.indexCsum.toString("hex")}, entries give ${actual.toString("hex")}`);
      }
    }
    checkExpected("fixed index", this.indexCsum, this.size, options);
  }

  static async open(path: string, options: IndexReadOptions = {}): Promise<FixedIndexReader> {
    return new FixedIndexReader(await readFile(path), options);
  }

  /** Decodes index bytes held in memory (the buffer is kept, not copied). */
  static fromBuffer(buf: Buffer, options: IndexReadOptions = {}): FixedIndexReader {
    return new FixedIndexReader(buf, options);
  }

  #check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.chunkCount) {
      throw new FormatError("ERR_INDEX_RANGE", `chunk ${i} out of range (index has ${this.chunkCount})`);
    }
  }

  digest(i: number): Buffer {
    this.#check(i);
    return this.#body.subarray(i * FIXED_ENTRY_SIZE, (i + 1) * FIXED_ENTRY_SIZE);
  }

  chunkInfo(i: number): ChunkInfo {
    const digest = this.digest(i);
    const start = i * this.chunkSize;
    return { start, end: Math.min(start + this.chunkSize, this.size), digest };
  }

  /** The chunk holding byte `offset`, or undefined past the end. */
  chunkFromOffset(offset: number): number | undefined {
    if (!(offset >= 0 && offset < this.size)) return undefined;
    return Math.floor(offset / this.chunkSize);
  }

  computeCsum(): Buffer {
    return csumOfBody(this.#body);
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

/** Builds fixed index bytes in memory (fixtures, tests, small images). */
export function encodeFixedIndex(options: FixedIndexOptions & { digests: readonly Uint8Array[] }): Buffer {
  const chunkSize = options.chunkSize ?? DEFAULT_FIXED_CHUNK_SIZE;
  const count = checkGeometry(options.size, chunkSize);
  if (options.digests.length !== count) {
    throw new FormatError("ERR_INDEX_COUNT", `fixed index of ${options.size} bytes in ${chunkSize}-byte chunks needs ${count} digests, got ${options.digests.length}`);
  }
  const body = Buffer.alloc(count * FIXED_ENTRY_SIZE);
  options.digests.forEach((d, i) => {
    assertDigest(d, `digest ${i}`);
    body.set(d, i * FIXED_ENTRY_SIZE);
  });
  return Buffer.concat([fixedHeader(options, chunkSize, csumOfBody(body)), body]);
}

function fixedHeader(options: FixedIndexOptions, chunkSize: number, csum: Buffer): Buffer {
  const header = encodeIndexHeader(FIXED_INDEX_MAGIC, { ...resolveIdentity(options), indexCsum: csum });
  writeU64(header, options.size, INDEX_OFFSET_SIZE);
  writeU64(header, chunkSize, INDEX_OFFSET_CHUNK_SIZE);
  return header;
}

/**
 * Writes a .fidx. Chunks are set in order with `add` or anywhere with `setChunk`; `close`
 * refuses to finish while any chunk is unset, so a half-written image never gets an index.
 */
export class FixedIndexWriter {
  readonly path: string;
  readonly size: number;
  readonly chunkSize: number;
  readonly chunkCount: number;
  readonly #identity: { uuid: Buffer; ctime: number };
  readonly #body: Buffer;
  readonly #isSet: Uint8Array;
  #setCount = 0;
  #next = 0;
  #done = false;

  private constructor(path: string, options: FixedIndexOptions, chunkSize: number, count: number) {
    this.path = path;
    this.size = options.size;
    this.chunkSize = chunkSize;
    this.chunkCount = count;
    this.#identity = resolveIdentity(options);
    this.#body = Buffer.alloc(count * FIXED_ENTRY_SIZE);
    this.#isSet = new Uint8Array(count);
  }

  static async create(path: string, options: FixedIndexOptions): Promise<FixedIndexWriter> {
    const chunkSize = options.chunkSize ?? DEFAULT_FIXED_CHUNK_SIZE;
    const count = checkGeometry(options.size, chunkSize);
    const writer = new FixedIndexWriter(path, options, chunkSize, count);
    // Create the tmp file now so that an unwritable directory fails at create, not after the upload.
    const fh = await open(tmpPathFor(path), "w");
    await fh.close();
    return writer;
  }

  #usable(): void {
    if (this.#done) throw new FormatError("ERR_WRITER_CLOSED", `fixed index writer for ${this.path} is already closed or aborted`);
  }

  setChunk(i: number, digest: Uint8Array): void {
    this.#usable();
    if (!Number.isInteger(i) || i < 0 || i >= this.chunkCount) {
      throw new FormatError("ERR_INDEX_RANGE", `chunk ${i} out of range (index has ${this.chunkCount})`);
    }
    assertDigest(digest, `digest of chunk ${i}`);
    this.#body.set(digest, i * FIXED_ENTRY_SIZE);
    if (this.#isSet[i] === 0) {
      this.#isSet[i] = 1;
      this.#setCount++;
    }
  }

  /** Sets the next chunk in order. Async for symmetry with DynamicIndexWriter.add. */
  async add(digest: Uint8Array): Promise<void> {
    this.setChunk(this.#next, digest);
    this.#next++;
  }

  computeCsum(): Buffer {
    return csumOfBody(this.#body);
  }

  async close(): Promise<IndexCloseResult> {
    this.#usable();
    if (this.#setCount !== this.chunkCount) {
      const missing = this.#isSet.indexOf(0);
      throw new FormatError("ERR_INDEX_COUNT", `fixed index ${this.path}: ${this.chunkCount - this.#setCount} of ${this.chunkCount} chunks unset (first: ${missing})`);
    }
    this.#done = true;
    const csum = this.computeCsum();
    const header = fixedHeader({ ...this.#identity, size: this.size }, this.chunkSize, csum);
    const tmp = tmpPathFor(this.path);
    try {
      const fh = await open(tmp, "w");
      try {
        await fh.writev([header, this.#body]);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await commitTmp(tmp, this.path);
    } catch (err) {
      await removeQuietly(tmp);
      throw err;
    }
    return { csum, size: this.size, chunkCount: this.chunkCount };
  }

  async abort(): Promise<void> {
    this.#done = true;
    await removeQuietly(tmpPathFor(this.path));
  }
}
