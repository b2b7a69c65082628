// PreviousMetadata: the previous snapshot's .mcxar read into a lookup by archive path, for
// change detection. `reuseFromPrevious` turns it into the encoder's re-use decision: a file is
// unchanged when size, mtime, ctime and inode all match (device optionally).
//
// Speed: the .mcxar is held as one Buffer and checked by a synchronous scan that applies the
// decoder's structural rules (README §1.2) without creating per-entry objects; the index maps
// each regular file's path (latin1 key) to its record offset and a lookup parses the fields on
// demand. If the scan finds anything it does not accept, the streaming decoder runs over the
// same bytes instead, so a damaged archive gives exactly the decoder's typed error.

import type { BigIntStats } from "node:fs";
import { type ByteStream, decodeArchive } from "./decoder.js";
import {
  BODY_MAX,
  checkStreamHeader,
  ENTRY_FIXED_SIZE,
  ENTRY_OFF_CTIME,
  ENTRY_OFF_DEV,
  ENTRY_OFF_INO,
  ENTRY_OFF_MODE,
  ENTRY_OFF_MTIME,
  ENTRY_OFF_NAME_LEN,
  ENTRY_OFF_PAYLOAD,
  ENTRY_OFF_RESERVED,
  ENTRY_OFF_SIZE,
  GOODBYE_BODY_SIZE,
  HEADER_SIZE,
  KNOWN_FLAGS,
  MCXAR_MAGIC,
  NAME_MAX,
  PREFIX_SIZE,
  RECORD_MARKER,
  RecordType,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  SYMLINK_MAX,
  storableNs,
} from "./format.js";
import { checkedComponents, type PathLike, pathKey, toPathBuffer } from "./internal/paths.js";
import { type RandomAccessReader, readerStream } from "./random-access.js";
import type { ReuseDecider } from "./split.js";

export interface PreviousEntry {
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  dev: bigint;
  /** Offset of the file's PAYLOAD header in the previous .pcxar. */
  payloadOffset: number;
}

export interface PreviousMetadata {
  /** Number of regular files indexed. */
  readonly size: number;
  lookup(path: PathLike): PreviousEntry | undefined;
}

function isReader(x: unknown): x is RandomAccessReader {
  return typeof x === "object" && x !== null && typeof (x as RandomAccessReader).read === "function" && "size" in x;
}

const READ_PIECE = 4 << 20;

/** The whole stream as one Buffer (a reader is read in large pieces). */
async function wholeBuffer(source: ByteStream | RandomAccessReader | Buffer): Promise<Buffer> {
  if (Buffer.isBuffer(source)) return source;
  const parts: Buffer[] = [];
  let length = 0;
  const stream: ByteStream = isReader(source) ? readerStream(source, 0, source.size, READ_PIECE) : source;
  for await (const piece of stream) {
    parts.push(piece);
    length += piece.length;
  }
  // always a copy: the index keeps these bytes, and a source may reuse its buffers
  return Buffer.concat(parts, length);
}

const TWO_32 = 2 ** 32;
/** High word limit of a u64 that fits a JS number (< 2^53). */
const SAFE_HI = 0x200000;

function u64(b: Buffer, at: number): number {
  return b.readUInt32LE(at + 4) * TWO_32 + b.readUInt32LE(at);
}

/** Whether the file type bits of a mode agree with the record type. */
function modeMatches(type: number, fmt: number): boolean {
  switch (type) {
    case RecordType.DIR:
      return fmt === S_IFDIR;
    case RecordType.FILE:
    case RecordType.HARDLINK:
      return fmt === S_IFREG;
    case RecordType.SYMLINK:
      return fmt === S_IFLNK;
    case RecordType.DEVICE:
      return fmt === S_IFCHR || fmt === S_IFBLK;
    case RecordType.FIFO:
      return fmt === S_IFIFO;
    default:
      return false;
  }
}

interface ScanDir {
  key: string;
  offset: number;
  count: number;
  lastStart: number;
  lastEnd: number;
}

/**
 * Checks a whole .mcxar and returns path key -> record offset of every FILE entry, or undefined
 * at the first thing it does not accept (the caller then lets the streaming decoder report it).
 */
function scan(b: Buffer): Map<string, number> | undefined {
  const map = new Map<string, number>();
  if (b.length < HEADER_SIZE) return undefined;
  try {
    checkStreamHeader(b.subarray(0, HEADER_SIZE), [MCXAR_MAGIC], "archive");
  } catch {
    return undefined;
  }
  const stack: ScanDir[] = [];
  let pos = HEADER_SIZE;
  let first = true;
  while (first || stack.length > 0) {
    const offset = pos;
    if (pos + PREFIX_SIZE > b.length) return undefined;
    if (b[pos] !== RECORD_MARKER) return undefined;
    const type = b[pos + 1];
    const flags = b.readUInt16LE(pos + 2);
    const bodyLen = b.readUInt32LE(pos + 4);
    if (type < RecordType.DIR || type > RecordType.GOODBYE) return undefined;
    if ((flags & ~KNOWN_FLAGS) !== 0 || (flags !== 0 && type !== RecordType.FILE)) return undefined;
    const body = pos + PREFIX_SIZE;
    const end = body + bodyLen;
    if (end > b.length) return undefined;
    pos = end;
    if (type === RecordType.GOODBYE) {
      const top = stack.pop();
      if (!top || bodyLen !== GOODBYE_BODY_SIZE) return undefined;
      if (b.readUInt32LE(body + 4) !== 0 || b.readUInt32LE(body) !== top.count) return undefined;
      if (b.readUInt32LE(body + 12) >= SAFE_HI || u64(b, body + 8) !== top.offset) return undefined;
      continue;
    }
    if (bodyLen < ENTRY_FIXED_SIZE || bodyLen > BODY_MAX) return undefined;
    const nameLen = b.readUInt16LE(body + ENTRY_OFF_NAME_LEN);
    if (b.readUInt16LE(body + ENTRY_OFF_RESERVED) !== 0 || ENTRY_FIXED_SIZE + nameLen > bodyLen) return undefined;
    if (!modeMatches(type, b.readUInt32LE(body + ENTRY_OFF_MODE) & S_IFMT)) return undefined;
    if (b.readUInt32LE(body + ENTRY_OFF_SIZE + 4) >= SAFE_HI || b.readUInt32LE(body + ENTRY_OFF_PAYLOAD + 4) >= SAFE_HI) return undefined;
    const sizeLo = b.readUInt32LE(body + ENTRY_OFF_SIZE);
    const sizeHi = b.readUInt32LE(body + ENTRY_OFF_SIZE + 4);
    if (type !== RecordType.FILE && (sizeLo !== 0 || sizeHi !== 0)) return undefined;
    const nameStart = body + ENTRY_FIXED_SIZE;
    const nameEnd = nameStart + nameLen;
    const tailLen = end - nameEnd;
    const linkish = type === RecordType.SYMLINK || type === RecordType.HARDLINK;
    if (linkish === (tailLen === 0)) return undefined;
    let key: string;
    if (first) {
      if (type !== RecordType.DIR || nameLen !== 0) return undefined;
      first = false;
      key = "";
    } else {
      const parent = stack[stack.length - 1];
      // name rules: 1..255 bytes, no "/" or NUL, not "." or ".."
      if (nameLen === 0 || nameLen > NAME_MAX) return undefined;
      for (let i = nameStart; i < nameEnd; i++) if (b[i] === 0x2f || b[i] === 0) return undefined;
      if (b[nameStart] === 0x2e && (nameLen === 1 || (nameLen === 2 && b[nameStart + 1] === 0x2e))) return undefined;
      // strictly increasing: the previous name (source range) must sort before this one
      if (parent.lastEnd > 0 && b.compare(b, nameStart, nameEnd, parent.lastStart, parent.lastEnd) >= 0) return undefined;
      parent.lastStart = nameStart;
      parent.lastEnd = nameEnd;
      parent.count++;
      const name = b.toString("latin1", nameStart, nameEnd);
      key = parent.key.length === 0 ? name : `${parent.key}/${name}`;
    }
    switch (type) {
      case RecordType.DIR:
        stack.push({ key, offset, count: 0, lastStart: 0, lastEnd: 0 });
        break;
      case RecordType.FILE:
        if (u64(b, body + ENTRY_OFF_PAYLOAD) < HEADER_SIZE) return undefined;
        map.set(key, offset);
        break;
      case RecordType.SYMLINK:
        if (tailLen > SYMLINK_MAX || b.subarray(nameEnd, end).includes(0)) return undefined;
        break;
      case RecordType.HARDLINK:
        try {
          checkedComponents(b.subarray(nameEnd, end), {});
        } catch {
          return undefined;
        }
        break;
    }
  }
  return pos === b.length ? map : undefined;
}

/**
 * Reads a previous metadata archive (.mcxar) completely and indexes its regular files. Memory is
 * the .mcxar itself plus one map entry (path and offset) per regular file: about 200 bytes per
 * file for typical paths.
 */
export async function openMetadataIndex(source: ByteStream | RandomAccessReader | Buffer): Promise<PreviousMetadata> {
  const b = await wholeBuffer(source);
  const offsets = scan(b);
  if (!offsets) return slowIndex(b);
  return {
    size: offsets.size,
    lookup(path) {
      const at = offsets.get(pathKey(toPathBuffer(path)));
      if (at === undefined) return undefined;
      const body = at + PREFIX_SIZE;
      return {
        size: u64(b, body + ENTRY_OFF_SIZE),
        mtimeNs: b.readBigInt64LE(body + ENTRY_OFF_MTIME),
        ctimeNs: b.readBigInt64LE(body + ENTRY_OFF_CTIME),
        ino: b.readBigUInt64LE(body + ENTRY_OFF_INO),
        dev: b.readBigUInt64LE(body + ENTRY_OFF_DEV),
        payloadOffset: u64(b, body + ENTRY_OFF_PAYLOAD),
      };
    },
  };
}

/** The streaming decoder's index: used when the fast scan refuses the bytes (it then throws the typed error). */
async function slowIndex(b: Buffer): Promise<PreviousMetadata> {
  const map = new Map<string, PreviousEntry>();
  for await (const ev of decodeArchive([b], { layout: "split" })) {
    if (ev.kind !== "file") continue;
    const m = ev.meta;
    map.set(pathKey(ev.path), { size: m.size, mtimeNs: m.mtimeNs, ctimeNs: m.ctimeNs, ino: m.ino, dev: m.dev, payloadOffset: m.payloadOffset });
  }
  return {
    size: map.size,
    lookup: (path) => map.get(pathKey(toPathBuffer(path))),
  };
}

export interface ReuseOptions {
  /** Also require the same st_dev (off by default: device numbers change across reboots). */
  compareDev?: boolean;
}

/** The standard re-use decision: unchanged size, mtime, ctime and inode. */
export function reuseFromPrevious(prev: PreviousMetadata, opts: ReuseOptions = {}): ReuseDecider {
  return (path: Buffer, st: BigIntStats) => {
    const p = prev.lookup(path);
    if (!p) return undefined;
    if (BigInt(p.size) !== st.size || p.mtimeNs !== storableNs(st.mtimeNs) || p.ctimeNs !== storableNs(st.ctimeNs) || p.ino !== st.ino) return undefined;
    if (opts.compareDev && p.dev !== st.dev) return undefined;
    return { offset: p.payloadOffset };
  };
}
