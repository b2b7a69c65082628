// The catalog (.ccat, README §1.4): one sorted table per directory, written in post-order while
// encoding, so a caller lists a directory or finds one entry by reading only the tables on its
// path, then fetches just that entry's byte ranges from the archive.

import { ArchiveError } from "./errors.js";
import {
  CATALOG_MAGIC,
  checkStreamHeader,
  type EntryKind,
  encodeStreamHeader,
  HEADER_SIZE,
  KIND_OF_TYPE,
  NAME_MAX,
  readSafeU64,
  TYPE_OF_KIND,
} from "./format.js";
import { checkedComponents, checkName, joinPath, type PathLike, toPathBuffer } from "./internal/paths.js";
import { bufferReader, type RandomAccessReader, readExactAt } from "./random-access.js";
import type { ByteSink } from "./sinks.js";

export const CATALOG_FLAG_SPLIT = 0x1;
export const TABLE_HEADER_SIZE = 8;
export const TABLE_OFF_LENGTH = 0;
export const TABLE_OFF_COUNT = 4;
export const CAT_ENTRY_FIXED_SIZE = 40;
export const CAT_OFF_TYPE = 0;
export const CAT_OFF_FLAGS = 1;
export const CAT_OFF_NAME_LEN = 2;
export const CAT_OFF_RESERVED = 4;
export const CAT_OFF_SIZE = 8;
export const CAT_OFF_MTIME = 16;
export const CAT_OFF_ENTRY = 24;
export const CAT_OFF_REF = 32;
export const CAT_TRAILER_SIZE = 32;
export const TRAILER_OFF_ROOT_TABLE = 0;
export const TRAILER_OFF_ROOT_LEN = 8;
export const TRAILER_OFF_COUNT = 16;
export const TRAILER_OFF_MAGIC = 24;

export interface CatalogRecord {
  kind: EntryKind;
  flags: number;
  name: Buffer;
  /** FILE: content size; DIR: subtree length in the archive. */
  size: number;
  mtimeNs: bigint;
  /** Offset of the entry's record in the (metadata) archive. */
  entryOffset: number;
  /** DIR: catalog offset of its table; FILE: payload offset; else 0. */
  ref: number;
}

export interface CatalogEntry extends CatalogRecord {
  /** Archive path of the entry. */
  path: Buffer;
}

/** Builds the catalog while the encoder walks; holds one table per directory on the current path. */
export class CatalogWriter {
  private pos = 0;
  private readonly stack: CatalogRecord[][] = [];
  private count = 0;

  constructor(
    private readonly sink: ByteSink,
    private readonly split: boolean,
  ) {}

  async start(): Promise<void> {
    await this.emit(encodeStreamHeader(CATALOG_MAGIC, this.split ? CATALOG_FLAG_SPLIT : 0));
  }

  enterDir(): void {
    this.stack.push([]);
  }

  add(r: CatalogRecord): void {
    this.stack[this.stack.length - 1].push(r);
    this.count++;
  }

  /** Writes the table of the directory being left and returns its catalog offset. */
  async leaveDir(): Promise<number> {
    const entries = this.stack.pop()!;
    let len = TABLE_HEADER_SIZE;
    for (const e of entries) len += CAT_ENTRY_FIXED_SIZE + e.name.length;
    const b = Buffer.alloc(len);
    b.writeUInt32LE(len, TABLE_OFF_LENGTH);
    b.writeUInt32LE(entries.length, TABLE_OFF_COUNT);
    let o = TABLE_HEADER_SIZE;
    for (const e of entries) {
      b[o + CAT_OFF_TYPE] = TYPE_OF_KIND[e.kind];
      b[o + CAT_OFF_FLAGS] = e.flags & 0xff;
      b.writeUInt16LE(e.name.length, o + CAT_OFF_NAME_LEN);
      b.writeBigUInt64LE(BigInt(e.size), o + CAT_OFF_SIZE);
      b.writeBigInt64LE(e.mtimeNs, o + CAT_OFF_MTIME);
      b.writeBigUInt64LE(BigInt(e.entryOffset), o + CAT_OFF_ENTRY);
      b.writeBigUInt64LE(BigInt(e.ref), o + CAT_OFF_REF);
      e.name.copy(b, o + CAT_ENTRY_FIXED_SIZE);
      o += CAT_ENTRY_FIXED_SIZE + e.name.length;
    }
    const at = this.pos;
    await this.emit(b);
    return at;
  }

  async finish(rootTable: number, rootLength: number): Promise<void> {
    const t = Buffer.alloc(CAT_TRAILER_SIZE);
    t.writeBigUInt64LE(BigInt(rootTable), TRAILER_OFF_ROOT_TABLE);
    t.writeBigUInt64LE(BigInt(rootLength), TRAILER_OFF_ROOT_LEN);
    t.writeBigUInt64LE(BigInt(this.count), TRAILER_OFF_COUNT);
    CATALOG_MAGIC.copy(t, TRAILER_OFF_MAGIC);
    await this.emit(t);
  }

  private async emit(b: Buffer): Promise<void> {
    await this.sink.write(b);
    this.pos += b.length;
  }
}

export type CatalogSource = Catalog | RandomAccessReader | Buffer;

/** A catalog opened for reading: header and trailer checked, tables read on demand. */
export class Catalog {
  private constructor(
    readonly reader: RandomAccessReader,
    /** The archive is split (.mcxar + .pcxar). */
    readonly split: boolean,
    readonly entryCount: number,
    private readonly rootTable: number,
    private readonly rootLength: number,
  ) {}

  static async open(src: RandomAccessReader | Buffer): Promise<Catalog> {
    const reader = Buffer.isBuffer(src) ? bufferReader(src) : src;
    if (reader.size < HEADER_SIZE + CAT_TRAILER_SIZE) throw new ArchiveError("ERR_ARCHIVE_TRUNCATED", "catalog too short", { offset: 0 });
    const { flags } = checkStreamHeader(await readExactAt(reader, 0, HEADER_SIZE, "catalog header"), [CATALOG_MAGIC], "catalog");
    const tAt = reader.size - CAT_TRAILER_SIZE;
    const t = await readExactAt(reader, tAt, CAT_TRAILER_SIZE, "catalog trailer");
    if (!t.subarray(TRAILER_OFF_MAGIC, TRAILER_OFF_MAGIC + 8).equals(CATALOG_MAGIC))
      throw new ArchiveError("ERR_ARCHIVE_TRUNCATED", "catalog trailer missing", { offset: tAt });
    const where = { offset: tAt };
    const rootTable = readSafeU64(t, TRAILER_OFF_ROOT_TABLE, "root table offset", where);
    if (rootTable < HEADER_SIZE || rootTable >= tAt) throw new ArchiveError("ERR_ARCHIVE_CORRUPT", "root table offset out of range", where);
    return new Catalog(
      reader,
      (flags & CATALOG_FLAG_SPLIT) !== 0,
      readSafeU64(t, TRAILER_OFF_COUNT, "entry count", where),
      rootTable,
      readSafeU64(t, TRAILER_OFF_ROOT_LEN, "root length", where),
    );
  }

  /** The root directory as an entry (its record is at archive offset 16). */
  root(): CatalogEntry {
    return { kind: "dir", flags: 0, name: Buffer.alloc(0), path: Buffer.alloc(0), size: this.rootLength, mtimeNs: 0n, entryOffset: HEADER_SIZE, ref: this.rootTable };
  }

  async readTable(offset: number, dirPath: Buffer): Promise<CatalogEntry[]> {
    const limit = this.reader.size - CAT_TRAILER_SIZE;
    if (offset < HEADER_SIZE || offset + TABLE_HEADER_SIZE > limit) throw new ArchiveError("ERR_ARCHIVE_CORRUPT", "catalog table offset out of range", { offset, path: dirPath });
    const head = await readExactAt(this.reader, offset, TABLE_HEADER_SIZE, "catalog table", dirPath);
    const len = head.readUInt32LE(TABLE_OFF_LENGTH);
    const count = head.readUInt32LE(TABLE_OFF_COUNT);
    if (len < TABLE_HEADER_SIZE + count * CAT_ENTRY_FIXED_SIZE || offset + len > limit)
      throw new ArchiveError("ERR_ARCHIVE_CORRUPT", "catalog table length out of range", { offset, path: dirPath });
    const b = await readExactAt(this.reader, offset, len, "catalog table", dirPath);
    const out: CatalogEntry[] = [];
    let o = TABLE_HEADER_SIZE;
    for (let i = 0; i < count; i++) {
      const where = { offset: offset + o, path: dirPath };
      if (o + CAT_ENTRY_FIXED_SIZE > len) throw new ArchiveError("ERR_ARCHIVE_CORRUPT", "catalog entry overruns its table", where);
      const kind = KIND_OF_TYPE[b[o + CAT_OFF_TYPE]];
      const nameLen = b.readUInt16LE(o + CAT_OFF_NAME_LEN);
      if (!kind || nameLen === 0 || nameLen > NAME_MAX || o + CAT_ENTRY_FIXED_SIZE + nameLen > len)
        throw new ArchiveError("ERR_ARCHIVE_CORRUPT", "bad catalog entry", where);
      const name = Buffer.from(b.subarray(o + CAT_ENTRY_FIXED_SIZE, o + CAT_ENTRY_FIXED_SIZE + nameLen));
      checkName(name, { path: joinPath(dirPath, name), offset: offset + o });
      const prev = out[out.length - 1];
      if (prev && Buffer.compare(prev.name, name) >= 0) throw new ArchiveError("ERR_ARCHIVE_CORRUPT", "catalog table not sorted", where);
      out.push({
        kind,
        flags: b[o + CAT_OFF_FLAGS],
        name,
        path: joinPath(dirPath, name),
        size: readSafeU64(b, o + CAT_OFF_SIZE, "size", where),
        mtimeNs: b.readBigInt64LE(o + CAT_OFF_MTIME),
        entryOffset: readSafeU64(b, o + CAT_OFF_ENTRY, "entry offset", where),
        ref: readSafeU64(b, o + CAT_OFF_REF, "ref", where),
      });
      // tables are written children first: a sub-table lies before its parent's (no cycles)
      const e = out[out.length - 1];
      if (kind === "dir" && (e.ref < HEADER_SIZE || e.ref >= offset))
        throw new ArchiveError("ERR_ARCHIVE_CORRUPT", "catalog sub-table offset out of order", { offset: offset + o, path: e.path });
      o += CAT_ENTRY_FIXED_SIZE + nameLen;
    }
    return out;
  }

  /** Finds an entry by archive path ("" or "/" is the root); undefined if absent. */
  async lookup(path: PathLike): Promise<CatalogEntry | undefined> {
    const p = toPathBuffer(path);
    const parts = checkedComponents(p, { path: p });
    let cur = this.root();
    for (const part of parts) {
      if (cur.kind !== "dir") return undefined;
      const table = await this.readTable(cur.ref, cur.path);
      let lo = 0;
      let hi = table.length - 1;
      let found: CatalogEntry | undefined;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const c = Buffer.compare(table[mid].name, part);
        if (c === 0) {
          found = table[mid];
          break;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
      }
      if (!found) return undefined;
      cur = found;
    }
    return cur;
  }

  /** Children of a directory, or the entry itself for anything else. */
  async list(path: PathLike): Promise<CatalogEntry[]> {
    const e = await this.lookup(path);
    if (!e) throw new ArchiveError("ERR_ARCHIVE_NOT_FOUND", "no such entry in catalog", { path: toPathBuffer(path) });
    return e.kind === "dir" ? this.readTable(e.ref, e.path) : [e];
  }

  /** Every entry below `path`, depth-first in archive order (directories before their children). */
  async *walk(path: PathLike = ""): AsyncGenerator<CatalogEntry> {
    const start = await this.lookup(path);
    if (!start) throw new ArchiveError("ERR_ARCHIVE_NOT_FOUND", "no such entry in catalog", { path: toPathBuffer(path) });
    if (start.kind !== "dir") {
      yield start;
      return;
    }
    const stack: { entries: CatalogEntry[]; i: number }[] = [{ entries: await this.readTable(start.ref, start.path), i: 0 }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      if (top.i >= top.entries.length) {
        stack.pop();
        continue;
      }
      const e = top.entries[top.i++];
      yield e;
      if (e.kind === "dir") stack.push({ entries: await this.readTable(e.ref, e.path), i: 0 });
    }
  }
}

export async function openCatalog(src: RandomAccessReader | Buffer): Promise<Catalog> {
  return Catalog.open(src);
}

export async function asCatalog(src: CatalogSource): Promise<Catalog> {
  return src instanceof Catalog ? src : Catalog.open(src);
}

/** Lists a directory of a snapshot (or returns the single entry at `path`). */
export async function listCatalog(catalog: CatalogSource, path: PathLike = ""): Promise<CatalogEntry[]> {
  return (await asCatalog(catalog)).list(path);
}
