// The 4096-byte header shared by fixed (.fidx) and dynamic (.didx) indexes (spec: format.md,
// "Fixed index" and "Dynamic index"). Fields sit at fixed offsets, the rest is zero; readers
// ignore the reserved area, as PBS does, so that future fields do not break old readers.

import { randomUUID } from "node:crypto";
import { FormatError } from "./errors.js";
import { DIGEST_SIZE } from "./internal/hex.js";
import { DYNAMIC_INDEX_MAGIC, FIXED_INDEX_MAGIC, MAGIC_SIZE } from "./magic.js";

export const HEADER_SIZE = 4096;
export const INDEX_OFFSET_MAGIC = 0;
export const INDEX_OFFSET_UUID = 8;
export const UUID_SIZE = 16;
export const INDEX_OFFSET_CTIME = 24;
export const INDEX_OFFSET_CSUM = 32;
/** Fixed index only: total image size, u64. */
export const INDEX_OFFSET_SIZE = 64;
/** Fixed index only: chunk size, u64. */
export const INDEX_OFFSET_CHUNK_SIZE = 72;
/** First reserved (zero) byte of a fixed index header. */
export const FIXED_HEADER_RESERVED_START = 80;
/** First reserved (zero) byte of a dynamic index header. */
export const DYNAMIC_HEADER_RESERVED_START = 64;

export const FIXED_ENTRY_SIZE = DIGEST_SIZE;
/** `end offset u64 | digest(32)`. */
export const DYNAMIC_ENTRY_SIZE = 8 + DIGEST_SIZE;
export const DEFAULT_FIXED_CHUNK_SIZE = 4 * 1024 * 1024;

export interface IndexHeaderFields {
  uuid: Buffer;
  /** Creation time, epoch seconds. */
  ctime: number;
  indexCsum: Buffer;
}

export interface IndexIdentity {
  /** 16 bytes; a fresh random v4 UUID when absent. */
  uuid?: Uint8Array;
  /** Epoch seconds; now when absent. */
  ctime?: number;
}

export function newUuid(): Buffer {
  return Buffer.from(randomUUID().replaceAll("-", ""), "hex");
}

export function resolveIdentity(id: IndexIdentity): { uuid: Buffer; ctime: number } {
  const uuid = id.uuid !== undefined ? Buffer.from(id.uuid) : newUuid();
  if (uuid.length !== UUID_SIZE) throw new RangeError(`index uuid must be ${UUID_SIZE} bytes, got ${uuid.length}`);
  const ctime = id.ctime ?? Math.floor(Date.now() / 1000);
  if (!Number.isSafeInteger(ctime)) throw new RangeError(`index ctime must be an integer, got ${ctime}`);
  return { uuid, ctime };
}

/** A zeroed header with magic, uuid, ctime and csum set; fixed-index fields are written by the caller. */
export function encodeIndexHeader(magic: Buffer, fields: IndexHeaderFields): Buffer {
  const header = Buffer.alloc(HEADER_SIZE);
  magic.copy(header, INDEX_OFFSET_MAGIC);
  fields.uuid.copy(header, INDEX_OFFSET_UUID);
  header.writeBigInt64LE(BigInt(fields.ctime), INDEX_OFFSET_CTIME);
  fields.indexCsum.copy(header, INDEX_OFFSET_CSUM);
  return header;
}

/** Checks length and magic, then returns the common fields (as copies). */
export function decodeIndexHeader(buf: Buffer, kind: "fixed" | "dynamic"): IndexHeaderFields {
  const name = kind === "fixed" ? "fixed index" : "dynamic index";
  if (buf.length < HEADER_SIZE) {
    throw new FormatError("ERR_INDEX_SHORT", `${name} of ${buf.length} bytes is shorter than its ${HEADER_SIZE}-byte header`);
  }
  const magic = buf.subarray(INDEX_OFFSET_MAGIC, INDEX_OFFSET_MAGIC + MAGIC_SIZE);
  const expected = kind === "fixed" ? FIXED_INDEX_MAGIC : DYNAMIC_INDEX_MAGIC;
  if (!magic.equals(expected)) {
    const other = kind === "fixed" ? DYNAMIC_INDEX_MAGIC : FIXED_INDEX_MAGIC;
    const hint = magic.equals(other) ? ` (it is a ${kind === "fixed" ? "dynamic" : "fixed"} index)` : "";
    throw new FormatError("ERR_INDEX_MAGIC", `not a ${name}: magic ${magic.toString("hex")}${hint}`);
  }
  const ctime = buf.readBigInt64LE(INDEX_OFFSET_CTIME);
  return {
    uuid: Buffer.from(buf.subarray(INDEX_OFFSET_UUID, INDEX_OFFSET_UUID + UUID_SIZE)),
    // Number() of an i64 never throws; only ctimes beyond 2^53 s (no real one) lose precision.
    ctime: Number(ctime),
    indexCsum: Buffer.from(buf.subarray(INDEX_OFFSET_CSUM, INDEX_OFFSET_CSUM + DIGEST_SIZE)),
  };
}

/** Reads a u64 as a JS number, refusing values beyond 2^53 (no real index has them). */
export function readSafeU64(buf: Buffer, offset: number): number | undefined {
  const lo = buf.readUInt32LE(offset);
  const hi = buf.readUInt32LE(offset + 4);
  if (hi >= 0x200000) return undefined;
  return hi * 0x1_0000_0000 + lo;
}

export function writeU64(buf: Buffer, value: number, offset: number): void {
  buf.writeUInt32LE(value >>> 0, offset);
  buf.writeUInt32LE(Math.floor(value / 0x1_0000_0000), offset + 4);
}
