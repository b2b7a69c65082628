// Byte layout of .cxar / .mcxar / .pcxar / .ccat (README §1): magics, named offsets, record
// prefix and entry body encoding/decoding. Everything that knows a byte position lives here;
// other modules call these helpers and never parse by hand-counted literals.

import { createHash } from "node:crypto";
import { ArchiveError } from "./errors.js";

/** First 8 bytes of SHA-256(label): how every magic of this package is derived. */
export function deriveMagic(label: string): Buffer {
  return createHash("sha256").update(label).digest().subarray(0, 8);
}

export const CXAR_MAGIC = deriveMagic("cairn archive v1");
export const MCXAR_MAGIC = deriveMagic("cairn metadata archive v1");
export const PCXAR_MAGIC = deriveMagic("cairn payload archive v1");
export const PAYLOAD_MAGIC = deriveMagic("cairn payload v1");
export const CATALOG_MAGIC = deriveMagic("cairn catalog v1");

export const FORMAT_VERSION = 1;

// stream header
export const HEADER_SIZE = 16;
export const HEADER_OFF_MAGIC = 0;
export const HEADER_OFF_VERSION = 8;
export const HEADER_OFF_FLAGS = 12;

// record prefix
export const RECORD_MARKER = 0xca;
export const PREFIX_SIZE = 8;
export const PREFIX_OFF_MARKER = 0;
export const PREFIX_OFF_TYPE = 1;
export const PREFIX_OFF_FLAGS = 2;
export const PREFIX_OFF_BODY_LEN = 4;

export const RecordType = {
  DIR: 1,
  FILE: 2,
  SYMLINK: 3,
  HARDLINK: 4,
  DEVICE: 5,
  FIFO: 6,
  GOODBYE: 7,
} as const;
export type RecordTypeNumber = (typeof RecordType)[keyof typeof RecordType];
export type EntryKind = "dir" | "file" | "symlink" | "hardlink" | "device" | "fifo";

export const KIND_OF_TYPE: Record<number, EntryKind> = {
  1: "dir",
  2: "file",
  3: "symlink",
  4: "hardlink",
  5: "device",
  6: "fifo",
};
export const TYPE_OF_KIND: Record<EntryKind, RecordTypeNumber> = {
  dir: 1,
  file: 2,
  symlink: 3,
  hardlink: 4,
  device: 5,
  fifo: 6,
};

export const FLAG_HAS_LINKS = 0x1;
export const KNOWN_FLAGS = FLAG_HAS_LINKS;

// entry body
export const ENTRY_FIXED_SIZE = 72;
export const ENTRY_OFF_MODE = 0;
export const ENTRY_OFF_UID = 4;
export const ENTRY_OFF_GID = 8;
export const ENTRY_OFF_NAME_LEN = 12;
export const ENTRY_OFF_RESERVED = 14;
export const ENTRY_OFF_MTIME = 16;
export const ENTRY_OFF_CTIME = 24;
export const ENTRY_OFF_INO = 32;
export const ENTRY_OFF_DEV = 40;
export const ENTRY_OFF_SIZE = 48;
export const ENTRY_OFF_RDEV = 56;
export const ENTRY_OFF_PAYLOAD = 64;

// goodbye body
export const GOODBYE_BODY_SIZE = 16;
export const GOODBYE_OFF_COUNT = 0;
export const GOODBYE_OFF_DIR = 8;

// payload header in .pcxar
export const PAYLOAD_HEADER_SIZE = 16;
export const PAYLOAD_OFF_MAGIC = 0;
export const PAYLOAD_OFF_SIZE = 8;

export const NAME_MAX = 255;
export const SYMLINK_MAX = 4095;
/** Largest body a reader accepts: fixed part + name + a hardlink path of up to 64 KiB. */
export const BODY_MAX = ENTRY_FIXED_SIZE + NAME_MAX + 65536;

// mode bits
export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;
export const S_IFSOCK = 0o140000;

/** The times an entry can hold: i64 nanoseconds, 1677-09-21 to 2262-04-11T23:47:16Z. */
export const TIME_NS_MIN = -(2n ** 63n);
export const TIME_NS_MAX = 2n ** 63n - 1n;

/** A file time as stored: clamped into the i64 range (ext4 allows mtimes up to the year 2446). */
export function storableNs(ns: bigint): bigint {
  return ns > TIME_NS_MAX ? TIME_NS_MAX : ns < TIME_NS_MIN ? TIME_NS_MIN : ns;
}

/** Metadata carried by every entry record. */
export interface EntryMeta {
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  dev: bigint;
  size: number;
  rdev: bigint;
  /** `.mcxar` only: offset of the file's PAYLOAD header in `.pcxar`. */
  payloadOffset: number;
  flags: number;
}

export interface ParsedEntry {
  kind: EntryKind;
  meta: EntryMeta;
  name: Buffer;
  /** SYMLINK target or HARDLINK first-link path; empty otherwise. */
  tail: Buffer;
}

export function encodeStreamHeader(magic: Buffer, flags = 0): Buffer {
  const b = Buffer.alloc(HEADER_SIZE);
  magic.copy(b, HEADER_OFF_MAGIC);
  b.writeUInt32LE(FORMAT_VERSION, HEADER_OFF_VERSION);
  b.writeUInt32LE(flags, HEADER_OFF_FLAGS);
  return b;
}

/** Checks a stream header and returns its flags. */
export function checkStreamHeader(b: Buffer, magics: Buffer[], what: string, offset = 0): { magic: Buffer; flags: number } {
  if (b.length < HEADER_SIZE) throw new ArchiveError("ERR_ARCHIVE_TRUNCATED", `${what}: header truncated`, { offset });
  const magic = b.subarray(HEADER_OFF_MAGIC, HEADER_OFF_MAGIC + 8);
  const found = magics.find((m) => m.equals(magic));
  if (!found) throw new ArchiveError("ERR_ARCHIVE_MAGIC", `${what}: bad magic ${magic.toString("hex")}`, { offset });
  const version = b.readUInt32LE(HEADER_OFF_VERSION);
  if (version !== FORMAT_VERSION) throw new ArchiveError("ERR_ARCHIVE_VERSION", `${what}: unknown version ${version}`, { offset });
  return { magic: found, flags: b.readUInt32LE(HEADER_OFF_FLAGS) };
}

export function encodePrefix(type: number, flags: number, bodyLen: number): Buffer {
  const b = Buffer.alloc(PREFIX_SIZE);
  b[PREFIX_OFF_MARKER] = RECORD_MARKER;
  b[PREFIX_OFF_TYPE] = type;
  b.writeUInt16LE(flags, PREFIX_OFF_FLAGS);
  b.writeUInt32LE(bodyLen, PREFIX_OFF_BODY_LEN);
  return b;
}

export interface Prefix {
  type: number;
  flags: number;
  bodyLen: number;
}

export function decodePrefix(b: Buffer, offset: number, path?: Buffer): Prefix {
  if (b[PREFIX_OFF_MARKER] !== RECORD_MARKER)
    throw new ArchiveError("ERR_ARCHIVE_CORRUPT", `bad record marker 0x${b[0].toString(16)}`, { offset, path });
  const type = b[PREFIX_OFF_TYPE];
  const flags = b.readUInt16LE(PREFIX_OFF_FLAGS);
  const bodyLen = b.readUInt32LE(PREFIX_OFF_BODY_LEN);
  if (type < RecordType.DIR || type > RecordType.GOODBYE)
    throw new ArchiveError("ERR_ARCHIVE_CORRUPT", `unknown record type ${type}`, { offset, path });
  // HAS_LINKS marks the first name of a multiply linked node: a file, symlink, device or fifo
  if ((flags & ~KNOWN_FLAGS) !== 0 || (flags !== 0 && type !== RecordType.FILE && type !== RecordType.SYMLINK && type !== RecordType.DEVICE && type !== RecordType.FIFO))
    throw new ArchiveError("ERR_ARCHIVE_CORRUPT", `unknown record flags 0x${flags.toString(16)}`, { offset, path });
  if (type === RecordType.GOODBYE ? bodyLen !== GOODBYE_BODY_SIZE : bodyLen < ENTRY_FIXED_SIZE || bodyLen > BODY_MAX)
    throw new ArchiveError("ERR_ARCHIVE_CORRUPT", `bad body length ${bodyLen} for record type ${type}`, { offset, path });
  return { type, flags, bodyLen };
}

/** A full entry record (prefix + body). */
export function encodeEntry(kind: EntryKind, meta: EntryMeta, name: Buffer, tail: Buffer = EMPTY): Buffer {
  const bodyLen = ENTRY_FIXED_SIZE + name.length + tail.length;
  const b = Buffer.alloc(PREFIX_SIZE + bodyLen);
  encodePrefix(TYPE_OF_KIND[kind], meta.flags, bodyLen).copy(b, 0);
  const o = PREFIX_SIZE;
  b.writeUInt32LE(meta.mode >>> 0, o + ENTRY_OFF_MODE);
  b.writeUInt32LE(meta.uid >>> 0, o + ENTRY_OFF_UID);
  b.writeUInt32LE(meta.gid >>> 0, o + ENTRY_OFF_GID);
  b.writeUInt16LE(name.length, o + ENTRY_OFF_NAME_LEN);
  b.writeBigInt64LE(meta.mtimeNs, o + ENTRY_OFF_MTIME);
  b.writeBigInt64LE(meta.ctimeNs, o + ENTRY_OFF_CTIME);
  b.writeBigUInt64LE(BigInt.asUintN(64, meta.ino), o + ENTRY_OFF_INO);
  b.writeBigUInt64LE(BigInt.asUintN(64, meta.dev), o + ENTRY_OFF_DEV);
  b.writeBigUInt64LE(BigInt(meta.size), o + ENTRY_OFF_SIZE);
  b.writeBigUInt64LE(BigInt.asUintN(64, meta.rdev), o + ENTRY_OFF_RDEV);
  b.writeBigUInt64LE(BigInt(meta.payloadOffset), o + ENTRY_OFF_PAYLOAD);
  name.copy(b, o + ENTRY_FIXED_SIZE);
  tail.copy(b, o + ENTRY_FIXED_SIZE + name.length);
  return b;
}

export const EMPTY = Buffer.alloc(0);

/** Reads a u64 that must fit a JS number (sizes, offsets). */
export function readSafeU64(b: Buffer, at: number, what: string, where: { offset?: number; path?: Buffer }): number {
  const v = b.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ArchiveError("ERR_ARCHIVE_CORRUPT", `${what} ${v} too large`, where);
  return Number(v);
}

const MODE_TYPE_OF_KIND: Record<EntryKind, number[]> = {
  dir: [S_IFDIR],
  file: [S_IFREG],
  symlink: [S_IFLNK],
  // the second name of a file, symlink, device or fifo carries that node's mode
  hardlink: [S_IFREG, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO],
  device: [S_IFCHR, S_IFBLK],
  fifo: [S_IFIFO],
};

/** Parses an entry body (without prefix). `offset` is the record's stream offset, for errors. */
export function decodeEntryBody(p: Prefix, body: Buffer, offset: number, parent?: Buffer): ParsedEntry {
  const kind = KIND_OF_TYPE[p.type];
  const nameLen = body.readUInt16LE(ENTRY_OFF_NAME_LEN);
  if (body.readUInt16LE(ENTRY_OFF_RESERVED) !== 0)
    throw new ArchiveError("ERR_ARCHIVE_CORRUPT", "reserved entry field not zero", { offset, path: parent });
  if (ENTRY_FIXED_SIZE + nameLen > body.length)
    throw new ArchiveError("ERR_ARCHIVE_CORRUPT", `name length ${nameLen} exceeds record`, { offset, path: parent });
  const name = body.subarray(ENTRY_FIXED_SIZE, ENTRY_FIXED_SIZE + nameLen);
  const tail = body.subarray(ENTRY_FIXED_SIZE + nameLen);
  const where = { offset, path: parent };
  const meta: EntryMeta = {
    mode: body.readUInt32LE(ENTRY_OFF_MODE),
    uid: body.readUInt32LE(ENTRY_OFF_UID),
    gid: body.readUInt32LE(ENTRY_OFF_GID),
    mtimeNs: body.readBigInt64LE(ENTRY_OFF_MTIME),
    ctimeNs: body.readBigInt64LE(ENTRY_OFF_CTIME),
    ino: body.readBigUInt64LE(ENTRY_OFF_INO),
    dev: body.readBigUInt64LE(ENTRY_OFF_DEV),
    size: readSafeU64(body, ENTRY_OFF_SIZE, "size", where),
    rdev: body.readBigUInt64LE(ENTRY_OFF_RDEV),
    payloadOffset: readSafeU64(body, ENTRY_OFF_PAYLOAD, "payload offset", where),
    flags: p.flags,
  };
  if (!MODE_TYPE_OF_KIND[kind].includes(meta.mode & S_IFMT))
    throw new ArchiveError("ERR_ARCHIVE_CORRUPT", `mode 0o${meta.mode.toString(8)} does not match a ${kind} record`, where);
  if (kind !== "file" && meta.size !== 0)
    throw new ArchiveError("ERR_ARCHIVE_CORRUPT", `${kind} record with size ${meta.size}`, where);
  if ((kind === "symlink" || kind === "hardlink") === (tail.length === 0))
    throw new ArchiveError("ERR_ARCHIVE_CORRUPT", `${kind} record with ${tail.length === 0 ? "no" : "unexpected"} link target`, where);
  return { kind, meta, name, tail };
}

export function encodeGoodbye(count: number, dirOffset: number): Buffer {
  const b = Buffer.alloc(PREFIX_SIZE + GOODBYE_BODY_SIZE);
  encodePrefix(RecordType.GOODBYE, 0, GOODBYE_BODY_SIZE).copy(b, 0);
  b.writeBigUInt64LE(BigInt(count), PREFIX_SIZE + GOODBYE_OFF_COUNT);
  b.writeBigUInt64LE(BigInt(dirOffset), PREFIX_SIZE + GOODBYE_OFF_DIR);
  return b;
}

export function encodePayloadHeader(size: number): Buffer {
  const b = Buffer.alloc(PAYLOAD_HEADER_SIZE);
  PAYLOAD_MAGIC.copy(b, PAYLOAD_OFF_MAGIC);
  b.writeBigUInt64LE(BigInt(size), PAYLOAD_OFF_SIZE);
  return b;
}

/** Checks a PAYLOAD header read at `offset` of a payload stream; returns the content size. */
export function checkPayloadHeader(b: Buffer, offset: number, path?: Buffer): number {
  if (b.length < PAYLOAD_HEADER_SIZE) throw new ArchiveError("ERR_ARCHIVE_TRUNCATED", "payload header truncated", { offset, path });
  if (!b.subarray(PAYLOAD_OFF_MAGIC, PAYLOAD_OFF_MAGIC + 8).equals(PAYLOAD_MAGIC))
    throw new ArchiveError("ERR_ARCHIVE_MAGIC", "no payload header at offset", { offset, path });
  return readSafeU64(b, PAYLOAD_OFF_SIZE, "payload size", { offset, path });
}
