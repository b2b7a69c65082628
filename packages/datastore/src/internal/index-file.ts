// Minimal reader/writer of .fidx/.didx files (format.md "Fixed index", "Dynamic index"), kept
// inside the datastore because GC and verify only need the digest list, the csum and the size,
// and read thousands of indexes per run: one readFile and a slice per entry, no validation layer.
// Written before @cairn/format shipped its index classes; the byte layout is the spec's.

import { createHash, randomUUID } from "node:crypto";
import fs from "node:fs";
import { DatastoreError } from "../errors.js";

export const INDEX_HEADER_SIZE = 4096;
export const OFFSET_MAGIC = 0;
export const OFFSET_UUID = 8;
export const OFFSET_CTIME = 24;
export const OFFSET_CSUM = 32;
export const OFFSET_SIZE = 64;
export const OFFSET_CHUNK_SIZE = 72;
export const DIGEST_SIZE = 32;
export const DYNAMIC_ENTRY_SIZE = 40;

export const FIXED_INDEX_MAGIC = Buffer.from([47, 127, 65, 237, 145, 253, 15, 205]);
export const DYNAMIC_INDEX_MAGIC = Buffer.from([28, 145, 78, 165, 25, 186, 179, 205]);

export type IndexKind = "fixed" | "dynamic";

export interface ParsedIndex {
  kind: IndexKind;
  /** index_csum from the header. */
  csum: Buffer;
  /** Archive data size. */
  size: number;
  chunkCount: number;
  digestAt(i: number): Buffer;
  digestHexAt(i: number): string;
  /** Length in bytes of chunk i's plain data. */
  chunkLength(i: number): number;
  /** SHA-256 over the entries, to compare with `csum`. */
  computeCsum(): Buffer;
}

function bad(file: string, why: string): DatastoreError {
  return new DatastoreError("ERR_NOT_FOUND", `index ${file} is unreadable: ${why}`, { resource: file });
}

export function indexKindOfName(name: string): IndexKind | undefined {
  if (name.endsWith(".fidx")) return "fixed";
  if (name.endsWith(".didx")) return "dynamic";
  return undefined;
}

export function parseIndex(buf: Buffer, file: string): ParsedIndex {
  if (buf.length < INDEX_HEADER_SIZE) throw bad(file, "short header");
  const magic = buf.subarray(0, 8);
  const body = buf.subarray(INDEX_HEADER_SIZE);
  const csum = Buffer.from(buf.subarray(OFFSET_CSUM, OFFSET_CSUM + 32));
  if (magic.equals(FIXED_INDEX_MAGIC)) {
    if (body.length % DIGEST_SIZE !== 0) throw bad(file, "body is not a whole number of digests");
    const size = Number(buf.readBigUInt64LE(OFFSET_SIZE));
    const chunkSize = Number(buf.readBigUInt64LE(OFFSET_CHUNK_SIZE));
    const count = body.length / DIGEST_SIZE;
    return {
      kind: "fixed",
      csum,
      size,
      chunkCount: count,
      digestAt: (i) => body.subarray(i * 32, i * 32 + 32),
      digestHexAt: (i) => body.toString("hex", i * 32, i * 32 + 32),
      chunkLength: (i) => Math.min(chunkSize, size - i * chunkSize),
      computeCsum: () => createHash("sha256").update(body).digest(),
    };
  }
  if (magic.equals(DYNAMIC_INDEX_MAGIC)) {
    if (body.length % DYNAMIC_ENTRY_SIZE !== 0) throw bad(file, "body is not a whole number of entries");
    const count = body.length / DYNAMIC_ENTRY_SIZE;
    const endAt = (i: number) => (i < 0 ? 0 : Number(body.readBigUInt64LE(i * DYNAMIC_ENTRY_SIZE)));
    return {
      kind: "dynamic",
      csum,
      size: count === 0 ? 0 : endAt(count - 1),
      chunkCount: count,
      digestAt: (i) => body.subarray(i * 40 + 8, i * 40 + 40),
      digestHexAt: (i) => body.toString("hex", i * 40 + 8, i * 40 + 40),
      chunkLength: (i) => endAt(i) - endAt(i - 1),
      computeCsum: () => createHash("sha256").update(body).digest(),
    };
  }
  throw bad(file, "wrong magic");
}

export function readIndexFile(file: string): ParsedIndex {
  return parseIndex(fs.readFileSync(file), file);
}

export interface WrittenIndex {
  csum: Buffer;
  size: number;
  chunkCount: number;
}

function header(magic: Buffer, csum: Buffer): Buffer {
  const h = Buffer.alloc(INDEX_HEADER_SIZE);
  magic.copy(h, OFFSET_MAGIC);
  Buffer.from(randomUUID().replace(/-/g, ""), "hex").copy(h, OFFSET_UUID);
  h.writeBigInt64LE(BigInt(Math.floor(Date.now() / 1000)), OFFSET_CTIME);
  csum.copy(h, OFFSET_CSUM);
  return h;
}

function writeAtomic(file: string, parts: Buffer[]): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, Buffer.concat(parts));
  fs.renameSync(tmp, file);
}

/** Writes a dynamic index: entries are (end offset, digest) with strictly increasing ends. */
export function writeDynamicIndexFile(file: string, entries: { end: number; digest: Uint8Array }[]): WrittenIndex {
  const body = Buffer.alloc(entries.length * DYNAMIC_ENTRY_SIZE);
  let prev = 0;
  entries.forEach((e, i) => {
    if (e.end <= prev) throw new RangeError(`dynamic index entry ${i}: end ${e.end} is not after ${prev}`);
    if (e.digest.length !== DIGEST_SIZE) throw new RangeError(`dynamic index entry ${i}: digest is not 32 bytes`);
    prev = e.end;
    body.writeBigUInt64LE(BigInt(e.end), i * 40);
    body.set(e.digest, i * 40 + 8);
  });
  const csum = createHash("sha256").update(body).digest();
  writeAtomic(file, [header(DYNAMIC_INDEX_MAGIC, csum), body]);
  return { csum, size: prev, chunkCount: entries.length };
}

/** Writes a fixed index of `size` bytes cut in `chunkSize` pieces. */
export function writeFixedIndexFile(file: string, size: number, chunkSize: number, digests: Uint8Array[]): WrittenIndex {
  const expected = size === 0 ? 0 : Math.ceil(size / chunkSize);
  if (digests.length !== expected) {
    throw new RangeError(`fixed index of ${size} bytes in ${chunkSize}-byte chunks needs ${expected} digests, got ${digests.length}`);
  }
  const body = Buffer.alloc(digests.length * DIGEST_SIZE);
  for (let i = 0; i < digests.length; i++) body.set(digests[i], i * 32);
  const csum = createHash("sha256").update(body).digest();
  const h = header(FIXED_INDEX_MAGIC, csum);
  h.writeBigUInt64LE(BigInt(size), OFFSET_SIZE);
  h.writeBigUInt64LE(BigInt(chunkSize), OFFSET_CHUNK_SIZE);
  writeAtomic(file, [h, body]);
  return { csum, size, chunkCount: digests.length };
}
