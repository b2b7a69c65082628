// ChunkStore: the `.chunks` folder — content-addressed data blobs named by their digest.
// Spec: datastore.md "Layout", "Inserting a chunk", "Touching atime".
//
// Mutual exclusion between an insert and the GC sweep (the spec's chunk-store mutex) is given by
// JavaScript itself: the check-then-act steps on one chunk (stat + touch here, stat + unlink in
// the sweep) run synchronously, so nothing in this process interleaves with them. Between
// processes the ProcessLocker keeps GC and writers apart.
//
// Touching: Node has no UTIME_OMIT, so a touch is lstat + lutimes(path, now, <the stat's mtime>):
// atime moves to now, mtime is written back unchanged (to the microsecond Node's double carries),
// and lutimes (utimensat with AT_SYMLINK_NOFOLLOW) never follows a link.
// Times pass through a double of seconds and libuv truncates to nanoseconds, so `now` could land
// a fraction of a microsecond *before* the millisecond it was taken in — and a GC whose cutoff is
// that very millisecond would remove a chunk it just marked (the stress test caught this). Every
// atime we write is therefore `now + 1 µs`. New chunk files get explicit times as well: the
// kernel stamps new files with a coarse clock that may lag Date.now() by a jiffy, which would put
// a fresh chunk's atime before the start of the backup that wrote it.

import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { type BlobHeaderInfo, isFormatError, readBlobHeader } from "@cairn/format";
import { DatastoreError, errnoCode } from "./errors.js";
import { CHUNK_FOLDER_COUNT, Layout, TMP_CHUNK_MARKER, chunkFolderName } from "./layout.js";
import { validateDigest } from "./names.js";

/** Chunks up to this size are written synchronously when no fsync is asked for. */
export const SYNC_WRITE_LIMIT = 1024 * 1024;

/** none: rename only; file: fsync each new chunk file and its folder before reporting success. */
export type FsyncLevel = "none" | "file";

export interface InsertResult {
  /** True when a chunk with this digest was already stored and kept (it was touched). */
  existed: boolean;
  /** Size in bytes of the chunk file now stored under the digest. */
  size: number;
  /** True when an existing larger (or empty) file was replaced by the incoming blob. */
  replaced?: boolean;
}

export interface ChunkStoreOptions {
  fsync?: FsyncLevel;
  /** Create chunk folders on first use instead of up front (tests; see README). */
  lazyFolders?: boolean;
}

/** lstat that answers undefined for a missing file. */
export function lstatOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return undefined;
    throw err;
  }
}

/** An atime in seconds that never truncates below the millisecond `nowMs`. */
export function atimeSeconds(nowMs: number): number {
  return nowMs / 1000 + 1e-6;
}

/** Set atime to now, keep mtime; answers false if the file does not exist. */
export function touchAtime(p: string, now = Date.now()): boolean {
  const st = lstatOrUndefined(p);
  if (!st) return false;
  try {
    fs.lutimesSync(p, atimeSeconds(now), st.mtimeMs / 1000);
    return true;
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return false;
    throw err;
  }
}

function headerOf(blob: Uint8Array, what: string): BlobHeaderInfo {
  try {
    return readBlobHeader(blob);
  } catch (err) {
    if (isFormatError(err)) {
      throw new DatastoreError("ERR_BAD_CHUNK", `${what}: ${err.message}`, { resource: what, cause: err });
    }
    throw err;
  }
}

export class ChunkStore {
  readonly layout: Layout;
  readonly fsyncLevel: FsyncLevel;
  readonly lazyFolders: boolean;

  constructor(root: string, opts: ChunkStoreOptions = {}) {
    this.layout = new Layout(root);
    this.fsyncLevel = opts.fsync ?? "none";
    this.lazyFolders = opts.lazyFolders ?? false;
  }

  /** Make `.chunks` and (unless lazy) its 65536 folders; a tight synchronous loop is fastest. */
  static createFolders(layout: Layout, lazy: boolean): void {
    fs.mkdirSync(layout.chunkDir, { recursive: true });
    if (lazy) return;
    const base = layout.chunkDir;
    for (let i = 0; i < CHUNK_FOLDER_COUNT; i++) {
      try {
        fs.mkdirSync(path.join(base, chunkFolderName(i)));
      } catch (err) {
        if (errnoCode(err) !== "EEXIST") throw err;
      }
    }
  }

  chunkPath(digest: string): string {
    return this.layout.chunkPath(digest);
  }

  /** Stat of the stored chunk, or null if it is not stored. */
  statChunk(digest: string): fs.Stats | null {
    return lstatOrUndefined(this.chunkPath(digest)) ?? null;
  }

  /** Touch the chunk's atime (keeping mtime); false if it is not stored. */
  touchChunk(digest: string): boolean {
    return touchAtime(this.chunkPath(digest));
  }

  /**
   * A chunk's blob, read with one synchronous open + fstat + read (fs.promises.readFile would
   * take a thread-pool round trip per 512 KiB, nine for a 4 MiB chunk, on the serving hot path).
   * `alloc` gives the buffer to read into (a server passes one with room for its frame header in
   * front); the result is that buffer, or a view of it if the file shrank while read.
   */
  async readChunk(digest: string, alloc: (size: number) => Buffer = Buffer.allocUnsafeSlow): Promise<Buffer> {
    const p = this.chunkPath(digest);
    let fd: number;
    try {
      fd = fs.openSync(p, "r");
    } catch (err) {
      if (errnoCode(err) === "ENOENT") {
        throw new DatastoreError("ERR_NOT_FOUND", `chunk ${digest} is not in the store`, { resource: p });
      }
      throw err;
    }
    try {
      const size = fs.fstatSync(fd).size;
      const buf = alloc(size);
      let got = 0;
      while (got < size) {
        const n = fs.readSync(fd, buf, got, size - got, got);
        if (n === 0) break;
        got += n;
      }
      return got === size ? buf : buf.subarray(0, got);
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * Insert a chunk (an encoded data blob) under its digest, following the spec's rules. The blob's
   * CRC and digest are the caller's to check (the server does it on upload).
   */
  async insertChunk(digest: string, blob: Uint8Array): Promise<InsertResult> {
    validateDigest(digest);
    const incoming = headerOf(blob, `chunk ${digest}`);
    const p = this.chunkPath(digest);
    // Synchronous decision: nothing else in this process runs between stat and touch.
    const st = lstatOrUndefined(p);
    if (st) {
      if (!st.isFile()) {
        throw new DatastoreError("ERR_BAD_CHUNK", `chunk path ${p} is not a regular file`, { resource: p });
      }
      if (st.size === blob.length) {
        touchAtime(p);
        return { existed: true, size: st.size };
      }
      if (st.size !== 0) {
        if (incoming.encrypted && !this.storedIsEncrypted(p)) {
          throw new DatastoreError(
            "ERR_CHUNK_ENCRYPTED_OVER_PLAIN",
            `refusing to overwrite unencrypted chunk ${digest} with an encrypted chunk of the same digest`,
            { resource: p },
          );
        }
        if (st.size <= blob.length) {
          touchAtime(p);
          return { existed: true, size: st.size };
        }
      }
    }
    if (this.fsyncLevel === "none" && blob.length <= SYNC_WRITE_LIMIT) this.writeNewSync(p, blob);
    else await this.writeNew(p, blob);
    return { existed: false, size: blob.length, replaced: st !== undefined };
  }

  private storedIsEncrypted(p: string): boolean {
    const fd = fs.openSync(p, "r");
    try {
      const head = Buffer.alloc(64);
      const n = fs.readSync(fd, head, 0, head.length, 0);
      return headerOf(head.subarray(0, n), `stored chunk ${p}`).encrypted;
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * Small chunks without fsync are written with synchronous calls: to the page cache that takes
   * tens of microseconds, ~4× faster than five thread-pool round trips (bench/run.mjs).
   */
  private writeNewSync(p: string, blob: Uint8Array): void {
    const tmp = `${p}${TMP_CHUNK_MARKER}${randomBytes(6).toString("hex")}`;
    let fd: number;
    try {
      fd = fs.openSync(tmp, "wx", 0o644);
    } catch (err) {
      if (errnoCode(err) !== "ENOENT") throw err;
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fd = fs.openSync(tmp, "wx", 0o644);
    }
    try {
      try {
        let off = 0;
        while (off < blob.length) off += fs.writeSync(fd, blob, off, blob.length - off);
        const t = atimeSeconds(Date.now());
        fs.futimesSync(fd, t, t);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, p);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
  }

  private async writeNew(p: string, blob: Uint8Array): Promise<void> {
    const tmp = `${p}${TMP_CHUNK_MARKER}${randomBytes(6).toString("hex")}`;
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(tmp, "wx", 0o644);
    } catch (err) {
      if (errnoCode(err) !== "ENOENT") throw err;
      // lazy folders, or a folder removed by hand: make it and retry once
      await fs.promises.mkdir(path.dirname(p), { recursive: true });
      fh = await fs.promises.open(tmp, "wx", 0o644);
    }
    try {
      try {
        let off = 0;
        while (off < blob.length) off += (await fh.write(blob, off, blob.length - off, off)).bytesWritten;
        const t = atimeSeconds(Date.now());
        await fh.utimes(t, t);
        if (this.fsyncLevel === "file") await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.promises.rename(tmp, p);
    } catch (err) {
      await fs.promises.rm(tmp, { force: true });
      throw err;
    }
    if (this.fsyncLevel === "file") await fsyncDir(path.dirname(p));
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.promises.open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
