// Safe extraction of decoded entries into a target directory. Paths come only from the
// archive's own directory records, each created here with mkdir; files are created at their
// final name with O_CREAT|O_EXCL|O_NOFOLLOW (anything already there is refused), or with
// allowExisting written to such a temp name and renamed; directory metadata is applied on the
// way back up; hardlinks may only point at files this run extracted.

import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  close,
  closeSync,
  constants as fsc,
  fchmod,
  fchmodSync,
  fchown,
  fchownSync,
  ftruncate,
  ftruncateSync,
  futimes,
  futimesSync,
  lchownSync,
  linkSync,
  lutimesSync,
  mkdirSync,
  open as openFd,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  symlinkSync,
  unlinkSync,
  write,
  writeSync,
} from "node:fs";
import { chmod, lchown, link, lstat, lutimes, mkdir, readdir, rename, rm, symlink, unlink } from "node:fs/promises";
import { promisify } from "node:util";
import { type ArchiveEvent, type ByteStream, decodeArchive } from "./decoder.js";
import { ArchiveError } from "./errors.js";
import { checkPayloadHeader, type EntryMeta, FLAG_HAS_LINKS, PAYLOAD_HEADER_SIZE, S_IFBLK, S_IFMT } from "./format.js";
import { AdaptiveIo } from "./internal/adaptive-io.js";
import { FileWriter, type WriterFailure } from "./internal/file-writer.js";
import { absoluteFsPath, fsJoin, joinPath, type PathLike, pathKey } from "./internal/paths.js";
import { type RandomAccessReader, readExactAt, readerPieces } from "./random-access.js";
import { defaultWarningHandler, makeWarning, type WarningHandler } from "./warnings.js";

const execFileP = promisify(execFile);
// descriptor calls through the callback API: each is one thread-pool round trip, without the
// FileHandle bookkeeping of fs/promises
const fdOpen = promisify(openFd) as (path: Buffer, flags: number, mode: number) => Promise<number>;
const fdWrite = (fd: number, b: Buffer, off: number, len: number, pos: number): Promise<number> =>
  new Promise((resolve, reject) => write(fd, b, off, len, pos, (err, n) => (err ? reject(err) : resolve(n))));
const fdTruncate = promisify(ftruncate) as (fd: number, len: number) => Promise<void>;
const fdChown = promisify(fchown);
const fdChmod = promisify(fchmod) as (fd: number, mode: number) => Promise<void>;
const fdUtimes = promisify(futimes) as (fd: number, atime: number | string, mtime: number | string) => Promise<void>;
const fdClose = promisify(close);

export interface ExtractStats {
  entries: number;
  dirs: number;
  files: number;
  symlinks: number;
  hardlinks: number;
  devices: number;
  fifos: number;
  /** Content bytes restored (holes included). */
  bytes: number;
}

export function newExtractStats(): ExtractStats {
  return { entries: 0, dirs: 0, files: 0, symlinks: 0, hardlinks: 0, devices: 0, fifos: 0, bytes: 0 };
}

export interface ExtractOptions {
  /** Extract into an existing non-empty directory, merging with what is there (default false). */
  allowExisting?: boolean;
  /** Restore uid/gid (default: when running as root). */
  owner?: boolean;
  /** Restore zero blocks as holes (default true). */
  sparse?: boolean;
  /** Apply the archive root's mode/mtime to the target directory (default true). */
  applyRootMetadata?: boolean;
  onWarning?: WarningHandler;
  stats?: ExtractStats;
}

/** Internal hooks used by subtree restore. */
export interface ExtractHooks {
  /** Archive path of the extracted root (prefix for hardlink targets). */
  rootPath?: Buffer;
  /** Called for a hardlink whose first link was not extracted in this run. */
  hardlinkFallback?: (targetArchivePath: Buffer, destAbs: Buffer, path: Buffer) => Promise<boolean>;
}

const SPARSE_BLOCK = 64 * 1024;
/**
 * Files up to this size are collected in memory and written in the background, MAX_PENDING at a
 * time (file creation is slow on a busy filesystem; many in flight keep the thread pool busy).
 */
const SMALL_MAX = 256 * 1024;
const MAX_PENDING = 64;
const ZERO_BLOCK = Buffer.alloc(SPARSE_BLOCK);
/** Flags of every file the extractor creates: a new file, never through a symlink. */
const CREATE_FLAGS = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;

/**
 * The ranges of `piece` to write: everything, or (sparse) only the runs of 64 KiB blocks that
 * are not all zero; the holes come from extending the file to its size at the end.
 */
function dataRuns(piece: Buffer, sparse: boolean): [number, number][] {
  if (!sparse) return piece.length > 0 ? [[0, piece.length]] : [];
  const runs: [number, number][] = [];
  let runStart = -1;
  for (let o = 0; o < piece.length; o += SPARSE_BLOCK) {
    const blockEnd = Math.min(o + SPARSE_BLOCK, piece.length);
    const zero = piece.subarray(o, blockEnd).equals(blockEnd - o === SPARSE_BLOCK ? ZERO_BLOCK : ZERO_BLOCK.subarray(0, blockEnd - o));
    if (!zero && runStart < 0) runStart = o;
    if (zero && runStart >= 0) {
      runs.push([runStart, o]);
      runStart = -1;
    }
  }
  if (runStart >= 0) runs.push([runStart, piece.length]);
  return runs;
}

/**
 * Collects a small file's content (`size` bytes declared): a piece holding all of it as is,
 * several pieces copied into one buffer as they come (a piece may be a view of a buffer its
 * source reuses once the next piece is asked for).
 */
async function collect(content: AsyncIterable<Buffer> | Iterable<Buffer>, size: number): Promise<{ data: Buffer; copied: boolean }> {
  let only: Buffer | undefined;
  let out: Buffer | undefined;
  let length = 0;
  for await (const piece of content) {
    if (out === undefined && only === undefined && piece.length >= size) {
      only = piece;
      length = piece.length;
      continue;
    }
    if (out === undefined || length + piece.length > out.length) {
      const grown = Buffer.allocUnsafe(Math.max(size, length + piece.length));
      if (only) only.copy(grown, 0);
      else if (out) out.copy(grown, 0, 0, length);
      only = undefined;
      out = grown;
    }
    piece.copy(out, length);
    length += piece.length;
  }
  if (out) return { data: out.subarray(0, length), copied: true };
  return { data: only ?? Buffer.alloc(0), copied: false };
}

/**
 * The process umask from /proc/self/status (Linux), read once; undefined if unknown. Reading it
 * through process.umask() is deprecated, and setting it to read it back would race with other
 * code creating files.
 */
let umaskCache: number | null | undefined = null;
function processUmask(): number | undefined {
  if (umaskCache === null) {
    try {
      const m = /^Umask:\s*([0-7]+)$/m.exec(readFileSync("/proc/self/status", "latin1"));
      umaskCache = m ? Number.parseInt(m[1], 8) : undefined;
    } catch {
      umaskCache = undefined;
    }
  }
  return umaskCache;
}

function fileExists(path: Buffer): ArchiveError {
  return new ArchiveError("ERR_ARCHIVE_ESCAPE", "file path already exists and is not one this run created", { path });
}

/**
 * Seconds for utimes. Node's libuv turns the double into a timespec with microsecond precision,
 * truncating the fraction toward zero (`tv_sec = t; tv_nsec = (t - tv_sec) * 1e9`, then cut to
 * whole µs and normalized), so aim at the middle of the microsecond, on the side away from zero:
 * the restored time is then exactly the archived time floored to the microsecond, whatever the
 * float rounding, before 1970 too. (Aiming at +0.5 µs for a negative time restored one
 * microsecond late: -123.456789 s came back as -123.456788 s.)
 */
export function nsToSeconds(ns: bigint): number {
  const us = ns >= 0n ? ns / 1000n : -((-ns + 999n) / 1000n);
  let t = (Number(us) + (us >= 0n ? 0.5 : -0.5)) / 1e6;
  // After about 2242 (2^33 s) a double no longer holds every microsecond; the nearest one may lie
  // after the archived time, so step down until libuv's truncation gives no later microsecond.
  while (t >= 2 ** 33 && truncatedUs(t) > us) t = nextDown(t);
  return t;
}

/** The microsecond libuv makes of a positive `t` (whole seconds, then the fraction truncated). */
function truncatedUs(t: number): bigint {
  const whole = Math.floor(t);
  return BigInt(whole) * 1_000_000n + BigInt(Math.floor((t - whole) * 1e6));
}

/** The largest double below a positive finite `t`. */
function nextDown(t: number): number {
  const f = new Float64Array([t]);
  const bits = new BigInt64Array(f.buffer);
  bits[0] -= 1n;
  return f[0];
}

/**
 * The utimes argument for `seconds`. Node's fs replaces a negative number (a time before 1970)
 * with the current time, silently; a numeric string is passed through as its number, so times
 * before 1970 go as strings.
 */
export function timeArg(seconds: number): number | string {
  return seconds < 0 ? String(seconds) : seconds;
}


/** Linux dev_t split (glibc gnu_dev_major/minor). */
export function devMajorMinor(rdev: bigint): [bigint, bigint] {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return [major, minor];
}

/** Prepares `target`: creates it if missing; refuses a symlink, a non-directory, or (by default) a non-empty dir. */
export async function prepareTarget(target: Buffer, allowExisting: boolean): Promise<void> {
  try {
    const st = await lstat(target);
    if (!st.isDirectory()) throw new ArchiveError("ERR_ARCHIVE_TARGET", "restore target exists and is not a directory", { path: target });
    if (!allowExisting && (await readdir(target)).length > 0)
      throw new ArchiveError("ERR_ARCHIVE_TARGET", "restore target is not empty", { path: target });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    await makeParents(target, 0o700);
  }
}

/**
 * `mkdir -p`. Node 20's own `mkdir(…, {recursive: true})` never returns where the parent exists
 * but refuses children with ENOENT (`/proc/x`): it spins. Here a folder whose parent exists and
 * still gives ENOENT is that error.
 */
async function makeParents(dir: Buffer, mode: number): Promise<void> {
  try {
    await mkdir(dir, { mode });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return;
    const parent = dir.subarray(0, Math.max(dir.lastIndexOf(0x2f), 1));
    if (code !== "ENOENT" || parent.length >= dir.length) throw e;
    // the parent is missing (make it, then try again) or there and refusing (fail as it says)
    const parentExists = await lstat(parent).then(
      () => true,
      () => false,
    );
    if (parentExists) throw e;
    await makeParents(parent, mode);
    await mkdir(dir, { mode }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "EEXIST") throw err;
    });
  }
}

interface OpenDir {
  abs: Buffer;
  meta: EntryMeta;
  isRoot: boolean;
}

export class Extractor {
  private readonly stack: OpenDir[] = [];
  private readonly links = new Map<string, Buffer>();
  /** First names of linked fifos/devices that could not be made: their other names are skipped too. */
  private readonly skippedLinks = new Set<string>();
  private readonly stats: ExtractStats;
  private readonly warn: WarningHandler;
  private readonly owner: boolean;
  private readonly sparse: boolean;
  private tmpCounter = 0;
  private readonly pending = new Set<Promise<void>>();
  private pendingError: unknown = undefined;
  private readonly umask = processUmask();
  private readonly euid = process.geteuid?.() ?? -1;
  private readonly egid = process.getegid?.() ?? -1;
  /** Synchronous file system calls while they are fast (no thread-pool round trips). */
  private readonly io = new AdaptiveIo();
  /** The file-writer thread of a run() without allowExisting: small files and directory metadata. */
  private writer: FileWriter | undefined;
  /** Whether entries created here already belong to euid/egid (see ownedByUs). */
  private createdOwnedByUs: boolean | undefined;
  private done = false;

  constructor(
    private readonly target: Buffer,
    private readonly opts: ExtractOptions = {},
    private readonly payload?: RandomAccessReader,
    private readonly hooks: ExtractHooks = {},
  ) {
    this.stats = opts.stats ?? newExtractStats();
    this.warn = opts.onWarning ?? defaultWarningHandler;
    this.owner = opts.owner ?? process.getuid?.() === 0;
    this.sparse = opts.sparse ?? true;
  }

  /**
   * Whether an entry this run created already has owner `meta.uid`/`meta.gid`, so no chown is
   * needed: it was made by euid/egid, unless the target directory is setgid with another group
   * (new entries below it inherit that group).
   */
  private ownedByUs(meta: EntryMeta): boolean {
    if (meta.uid !== this.euid || meta.gid !== this.egid) return false;
    if (this.createdOwnedByUs === undefined) {
      try {
        const st = statSync(this.target);
        this.createdOwnedByUs = !((st.mode & 0o2000) !== 0 && st.gid !== this.egid);
      } catch {
        this.createdOwnedByUs = false;
      }
    }
    return this.createdOwnedByUs;
  }

  /** Runs a file system call synchronously while that is fast, else through the thread pool. */
  private fsCall<T>(sync: () => T, async: () => Promise<T>): T | Promise<T> {
    return this.io.syncOk ? this.io.run(sync) : async();
  }

  get result(): ExtractStats {
    return this.stats;
  }

  get finished(): boolean {
    return this.done;
  }

  async run(events: AsyncIterable<ArchiveEvent>): Promise<ExtractStats> {
    if (!this.opts.allowExisting) this.writer = new FileWriter((f) => this.writerFailed(f));
    try {
      try {
        for await (const ev of events) await this.handle(ev);
        await this.drain();
        await this.drainWriter();
      } catch (e) {
        // let in-flight writes finish (and clean up their partial files) before reporting
        await Promise.allSettled(this.pending);
        await this.writer?.drain().catch(() => {});
        throw this.pendingError ?? e;
      }
    } finally {
      await this.writer?.close();
      this.writer = undefined;
    }
    if (!this.done) throw new ArchiveError("ERR_ARCHIVE_TRUNCATED", "archive ended before its root directory was closed");
    return this.stats;
  }

  /** The writer thread's first failure becomes the run's error (as a failed write here would). */
  private writerFailed(f: WriterFailure): void {
    if (f.partial) this.warn(makeWarning(f.path, "partial-removed", `partial file removed: ${f.message}`));
    const err = f.code === "EEXIST" && !f.partial ? fileExists(f.path) : Object.assign(new Error(f.message), { code: f.code });
    this.pendingError ??= err;
  }

  /** Waits until the writer thread has created everything queued so far. */
  private async drainWriter(): Promise<void> {
    if (this.writer) await this.writer.drain();
    this.throwPending();
  }

  /** Runs a small-file write in the background, at most MAX_PENDING at a time. */
  private async spawn(task: () => Promise<void>): Promise<void> {
    while (this.pending.size >= MAX_PENDING) await Promise.race(this.pending);
    this.throwPending();
    const p: Promise<void> = task()
      .catch((e) => {
        this.pendingError ??= e;
      })
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  private throwPending(): void {
    if (this.pendingError !== undefined) throw this.pendingError;
  }

  /** Waits for every background write; needed before directory metadata, hardlinks and the end. */
  private async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
    this.throwPending();
  }

  private parentAbs(path: Buffer): Buffer {
    const top = this.stack[this.stack.length - 1];
    if (!top) throw new ArchiveError("ERR_ARCHIVE_CORRUPT", "entry outside any directory", { path });
    return top.abs;
  }

  async handle(ev: ArchiveEvent): Promise<void> {
    if (ev.kind === "goodbye") {
      await this.drain();
      const d = this.stack.pop()!;
      if (!d.isRoot || this.opts.applyRootMetadata !== false) {
        if (this.writer) {
          // queued behind the files of this directory the writer has not created yet
          this.throwPending();
          const chown = this.owner && !(!d.isRoot && this.ownedByUs(d.meta));
          const w = this.writer.dir({ abs: d.abs, path: d.abs, mode: d.meta.mode & 0o7777, mtime: nsToSeconds(d.meta.mtimeNs), chown, uid: d.meta.uid, gid: d.meta.gid });
          if (w) await w;
        } else {
          await this.applyMeta(d.abs, d.meta, false, !d.isRoot);
        }
      }
      if (this.stack.length === 0) this.done = true;
      return;
    }
    this.stats.entries++;
    if (ev.kind === "dir" && this.stack.length === 0) {
      this.stack.push({ abs: this.target, meta: ev.meta, isRoot: true });
      this.stats.dirs++;
      return;
    }
    await this.place(fsJoin(this.parentAbs(ev.path), ev.name), ev, true);
  }

  /**
   * Creates one entry at `abs` (whose parent exists and was made by this run or the caller).
   * With `background`, small files are read into memory and written concurrently.
   */
  async place(abs: Buffer, ev: Exclude<ArchiveEvent, { kind: "goodbye" }>, background = false): Promise<void> {
    switch (ev.kind) {
      case "dir":
        await this.makeDir(abs, ev.path);
        this.stack.push({ abs, meta: ev.meta, isRoot: false });
        this.stats.dirs++;
        return;
      case "file": {
        const content = ev.content ?? this.payloadContent(ev.contentOffset, ev.meta.size, ev.path);
        if (ev.meta.size <= SMALL_MAX) {
          const { data, copied } = await collect(content, ev.meta.size);
          const { path, meta } = ev;
          if (this.writer) {
            await this.queueSmall(abs, path, meta, data);
          } else if (!this.opts.allowExisting && this.io.syncOk) {
            // written right now, from the source's buffer: no copy, no thread-pool round trips
            this.writeSmallSync(abs, path, meta, data);
          } else if (!background) {
            if (this.opts.allowExisting) await this.writeFile(abs, path, meta, [data]);
            else await this.writeSmall(abs, path, meta, data);
          } else {
            // only with allowExisting (run() has the writer thread otherwise): temp name + rename.
            // Pieces may be views of a buffer the source reuses: keep a copy for the background write
            const own = copied ? data : Buffer.from(data);
            await this.spawn(() => this.writeFile(abs, path, meta, [own]));
          }
        } else {
          await this.writeFile(abs, ev.path, ev.meta, content);
        }
        this.rememberLink(ev.path, ev.meta, abs);
        this.stats.files++;
        return;
      }
      case "symlink":
        await this.fsCall(
          () => symlinkSync(ev.target, abs),
          () => symlink(ev.target, abs),
        );
        await this.applyMeta(abs, ev.meta, true, true);
        this.rememberLink(ev.path, ev.meta, abs);
        this.stats.symlinks++;
        return;
      case "hardlink": {
        await this.drain();
        await this.drainWriter();
        const first = this.links.get(pathKey(ev.target));
        if (this.skippedLinks.has(pathKey(ev.target))) {
          this.warn(makeWarning(ev.path, "node-skipped", "not restored: it is another name of a node that could not be made"));
          return;
        }
        if (first) {
          await this.fsCall(
            () => linkSync(first, abs),
            () => link(first, abs),
          );
        } else if (!(this.hooks.hardlinkFallback && (await this.hooks.hardlinkFallback(ev.target, abs, ev.path)))) {
          throw new ArchiveError("ERR_ARCHIVE_ESCAPE", "hardlink target is not an entry extracted by this run", { path: ev.path, offset: ev.offset });
        }
        this.stats.hardlinks++;
        return;
      }
      case "device":
      case "fifo":
        if (!(await this.makeNode(abs, ev.path, ev.meta, ev.kind))) {
          if (ev.meta.flags & FLAG_HAS_LINKS) this.skippedLinks.add(pathKey(this.archivePath(ev.path)));
          return;
        }
        await this.applyMeta(abs, ev.meta, false);
        this.rememberLink(ev.path, ev.meta, abs);
        if (ev.kind === "device") this.stats.devices++;
        else this.stats.fifos++;
        return;
    }
  }

  /** The first name of a multiply linked node, for the hardlink entries that follow it. */
  private rememberLink(path: Buffer, meta: EntryMeta, abs: Buffer): void {
    if (meta.flags & FLAG_HAS_LINKS) this.links.set(pathKey(this.archivePath(path)), abs);
  }

  private archivePath(rel: Buffer): Buffer {
    return this.hooks.rootPath && this.hooks.rootPath.length > 0 ? joinPath(this.hooks.rootPath, rel) : rel;
  }

  private async makeDir(abs: Buffer, path: Buffer): Promise<void> {
    try {
      await this.fsCall(
        () => void mkdirSync(abs, 0o700),
        () => mkdir(abs, 0o700).then(() => {}),
      );
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const st = await lstat(abs);
      if (!this.opts.allowExisting || !st.isDirectory())
        throw new ArchiveError("ERR_ARCHIVE_ESCAPE", "directory path already exists and is not one this run created", { path });
    }
  }

  private async *payloadContent(offset: number, size: number, path: Buffer): AsyncGenerator<Buffer> {
    const reader = this.payload;
    if (!reader) throw new ArchiveError("ERR_ARCHIVE_CORRUPT", "split archive entry but no payload reader", { path });
    const header = await readExactAt(reader, offset, PAYLOAD_HEADER_SIZE, "payload header", path);
    const got = checkPayloadHeader(header, offset, path);
    if (got !== size) throw new ArchiveError("ERR_ARCHIVE_CORRUPT", `payload size ${got} differs from entry size ${size}`, { path, offset });
    const start = offset + PAYLOAD_HEADER_SIZE;
    let pos = start;
    for await (const piece of readerPieces(reader, start, start + size)) {
      pos += piece.length;
      yield piece;
    }
    if (pos < start + size) throw new ArchiveError("ERR_ARCHIVE_TRUNCATED", "payload stream ends inside file content", { path, offset: pos });
  }

  /** writeSmall on the writer thread: `data` is copied into its batch before this returns. */
  private async queueSmall(abs: Buffer, path: Buffer, meta: EntryMeta, data: Buffer): Promise<void> {
    if (data.length !== meta.size) throw new ArchiveError("ERR_ARCHIVE_CORRUPT", `file content has ${data.length} bytes, ${meta.size} declared`, { path });
    this.throwPending();
    const perm = meta.mode & 0o7777;
    const exact = this.umask !== undefined && (perm & (this.umask | 0o7000)) === 0;
    const chown = this.owner && !this.ownedByUs(meta);
    const w = this.writer!.file({ abs, path, data, size: meta.size, perm, exact, mtime: nsToSeconds(meta.mtimeNs), chown, uid: meta.uid, gid: meta.gid, sparse: this.sparse });
    if (w) await w;
    this.stats.bytes += meta.size;
  }

  /** writeSmall with synchronous calls: used while they are fast; `data` is not kept. */
  writeSmallSync(abs: Buffer, path: Buffer, meta: EntryMeta, data: Buffer): void {
    if (data.length !== meta.size) throw new ArchiveError("ERR_ARCHIVE_CORRUPT", `file content has ${data.length} bytes, ${meta.size} declared`, { path });
    const perm = meta.mode & 0o7777;
    const exact = this.umask !== undefined && (perm & (this.umask | 0o7000)) === 0;
    let fd: number;
    try {
      fd = this.io.run(() => openSync(abs, CREATE_FLAGS, exact ? perm : 0o600));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST") throw fileExists(path);
      throw e;
    }
    try {
      this.io.run(() => {
        let written = 0;
        for (const [start, end] of dataRuns(data, this.sparse)) {
          let done = start;
          while (done < end) done += writeSync(fd, data, done, end - done, done);
          written = end;
        }
        if (written < meta.size) ftruncateSync(fd, meta.size);
        if (this.owner && !this.ownedByUs(meta)) fchownSync(fd, meta.uid, meta.gid);
        if (!exact) fchmodSync(fd, perm);
        const t = nsToSeconds(meta.mtimeNs);
        futimesSync(fd, timeArg(t), timeArg(t));
      });
    } catch (e) {
      try {
        closeSync(fd);
      } catch {}
      try {
        unlinkSync(abs);
      } catch {}
      this.warn(makeWarning(path, "partial-removed", `partial file removed: ${(e as Error).message}`));
      throw e;
    }
    closeSync(fd);
    this.stats.bytes += meta.size;
  }

  /**
   * Writes a small file held in memory: open at the final name (new file, no symlink; see
   * writeFile), one write per data run, fchown/fchmod (only if needed) and futimes on the
   * descriptor, close — four system calls for most files, no temp name, no rename. On an error
   * after the file was created it is removed with a `partial-removed` warning.
   */
  async writeSmall(abs: Buffer, path: Buffer, meta: EntryMeta, data: Buffer): Promise<void> {
    if (data.length !== meta.size) throw new ArchiveError("ERR_ARCHIVE_CORRUPT", `file content has ${data.length} bytes, ${meta.size} declared`, { path });
    // create with the final permissions when the umask leaves them alone (saves the fchmod);
    // setuid/setgid bits are always set last (a write by a non-root owner clears them)
    const perm = meta.mode & 0o7777;
    const exact = this.umask !== undefined && (perm & (this.umask | 0o7000)) === 0;
    let fd: number;
    try {
      fd = await fdOpen(abs, CREATE_FLAGS, exact ? perm : 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST") throw fileExists(path);
      throw e;
    }
    try {
      let written = 0;
      for (const [start, end] of dataRuns(data, this.sparse)) {
        let done = start;
        while (done < end) done += await fdWrite(fd, data, done, end - done, done);
        written = end;
      }
      if (written < meta.size) await fdTruncate(fd, meta.size);
      if (this.owner && !this.ownedByUs(meta)) await fdChown(fd, meta.uid, meta.gid);
      if (!exact) await fdChmod(fd, perm);
      const t = nsToSeconds(meta.mtimeNs);
      await fdUtimes(fd, timeArg(t), timeArg(t));
    } catch (e) {
      await fdClose(fd).catch(() => {});
      await unlink(abs).catch(() => {});
      this.warn(makeWarning(path, "partial-removed", `partial file removed: ${(e as Error).message}`));
      throw e;
    }
    await fdClose(fd);
    this.stats.bytes += meta.size;
  }

  /**
   * Writes a regular file. Without `allowExisting` it is created directly at its final name with
   * O_CREAT|O_EXCL|O_NOFOLLOW: the folder was created by this run (or is the empty target), so
   * anything already at that name was put there by someone else and is refused
   * (ERR_ARCHIVE_ESCAPE), never followed or replaced. With `allowExisting` it is written to a
   * temp name in the same folder and renamed over whatever is there. On any error the partial
   * file is removed (`partial-removed` warning) and the error names the entry.
   */
  async writeFile(abs: Buffer, path: Buffer, meta: EntryMeta, content: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<void> {
    const direct = !this.opts.allowExisting;
    let tmp: Buffer;
    let fd: number;
    if (direct) {
      tmp = abs;
      try {
        fd = await this.fsCall(
          () => openSync(abs, CREATE_FLAGS, 0o600),
          () => fdOpen(abs, CREATE_FLAGS, 0o600),
        );
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EEXIST") throw fileExists(path);
        throw e;
      }
    } else {
      const dir = abs.subarray(0, abs.lastIndexOf(0x2f));
      for (;;) {
        const name = fsJoin(dir, Buffer.from(`.cxar-tmp-${process.pid}-${this.tmpCounter++}-${randomBytes(4).toString("hex")}`));
        try {
          fd = await this.fsCall(
            () => openSync(name, CREATE_FLAGS, 0o600),
            () => fdOpen(name, CREATE_FLAGS, 0o600),
          );
          tmp = name;
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        }
      }
    }
    let open = true;
    try {
      let pos = 0;
      let written = 0;
      for await (const piece of content) {
        // each piece is written before the next is asked for (it may be a view of a reused buffer)
        for (const [start, end] of dataRuns(piece, this.sparse)) {
          await this.fsCall(
            () => writeAllSync(fd, piece, start, end, pos),
            () => writeAllAsync(fd, piece, start, end, pos),
          );
          written = pos + end;
        }
        pos += piece.length;
      }
      if (pos !== meta.size) throw new ArchiveError("ERR_ARCHIVE_CORRUPT", `file content has ${pos} bytes, ${meta.size} declared`, { path });
      const t = nsToSeconds(meta.mtimeNs);
      // trailing holes need the file extended; otherwise skip the syscall
      const chown = this.owner && !(direct && this.ownedByUs(meta));
      await this.fsCall(
        () => {
          if (written < meta.size) ftruncateSync(fd, meta.size);
          if (chown) fchownSync(fd, meta.uid, meta.gid);
          fchmodSync(fd, meta.mode & 0o7777);
          futimesSync(fd, timeArg(t), timeArg(t));
          open = false;
          closeSync(fd);
        },
        async () => {
          if (written < meta.size) await fdTruncate(fd, meta.size);
          if (chown) await fdChown(fd, meta.uid, meta.gid);
          await fdChmod(fd, meta.mode & 0o7777);
          await fdUtimes(fd, timeArg(t), timeArg(t));
          open = false;
          await fdClose(fd);
        },
      );
      if (!direct) {
        await this.fsCall(
          () => renameSync(tmp, abs),
          () => rename(tmp, abs),
        );
      }
      this.stats.bytes += meta.size;
    } catch (e) {
      if (open) await fdClose(fd).catch(() => {});
      await unlink(tmp).catch(() => {});
      this.warn(makeWarning(path, "partial-removed", `partial file removed: ${(e as Error).message}`));
      throw e;
    }
  }

  /**
   * Creates a device node or fifo; false (with a `node-skipped` warning) when this process may not
   * (mknod needs root for devices) or the system lacks the tool. Node has no mknod, so this runs
   * mknod/mkfifo, which take string paths: the node is made under an ASCII temporary name in the
   * nearest folder whose path is UTF-8 (on the same file system) and renamed into place with
   * Buffer paths, so names below non-UTF-8 folders work too.
   */
  private async makeNode(abs: Buffer, path: Buffer, meta: EntryMeta, kind: "device" | "fifo"): Promise<boolean> {
    let dir = abs.subarray(0, abs.lastIndexOf(0x2f));
    while (dir.length > 0 && !Buffer.from(dir.toString("utf8"), "utf8").equals(dir)) dir = dir.subarray(0, dir.lastIndexOf(0x2f));
    if (dir.length === 0) dir = Buffer.from("/");
    const tmp = fsJoin(dir, Buffer.from(`.cxar-node-${process.pid}-${this.tmpCounter++}`));
    const tmpStr = tmp.toString("utf8");
    const what = kind === "fifo" ? "fifo" : (meta.mode & S_IFMT) === S_IFBLK ? "block device" : "character device";
    try {
      if (kind === "fifo") {
        await execFileP("mkfifo", ["-m", "600", tmpStr]);
      } else {
        const [major, minor] = devMajorMinor(meta.rdev);
        await execFileP("mknod", ["-m", "600", tmpStr, (meta.mode & S_IFMT) === S_IFBLK ? "b" : "c", String(major), String(minor)]);
      }
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => {});
      const err = e as NodeJS.ErrnoException & { stderr?: string };
      const why = err.code === "ENOENT" ? `the ${kind === "fifo" ? "mkfifo" : "mknod"} command is not on PATH` : (err.stderr?.trim().split("\n").at(-1)?.replace(/^mk(nod|fifo): .*?: /, "") || err.message);
      this.warn(makeWarning(path, "node-skipped", `${what} not restored: ${why}`));
      return false;
    }
    try {
      await rename(tmp, abs);
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => {});
      this.warn(makeWarning(path, "node-skipped", `${what} not restored: ${(e as Error).message}`));
      return false;
    }
    return true;
  }

  /** Owner (when restoring owners), mode (not for symlinks) and mtime of a dir, symlink or node. */
  private async applyMeta(abs: Buffer, meta: EntryMeta, isSymlink: boolean, createdHere = false): Promise<void> {
    const chown = this.owner && !(createdHere && !this.opts.allowExisting && this.ownedByUs(meta));
    const t = nsToSeconds(meta.mtimeNs);
    await this.fsCall(
      () => {
        if (chown) lchownSync(abs, meta.uid, meta.gid);
        // Linux cannot chmod a symlink; its mode is always 0777
        if (!isSymlink) chmodSync(abs, meta.mode & 0o7777);
        lutimesSync(abs, timeArg(t), timeArg(t));
      },
      async () => {
        if (chown) await lchown(abs, meta.uid, meta.gid);
        if (!isSymlink) await chmod(abs, meta.mode & 0o7777);
        await lutimes(abs, timeArg(t), timeArg(t));
      },
    );
  }
}

function writeAllSync(fd: number, b: Buffer, start: number, end: number, pos: number): void {
  let done = start;
  while (done < end) done += writeSync(fd, b, done, end - done, pos + done);
}

async function writeAllAsync(fd: number, b: Buffer, start: number, end: number, pos: number): Promise<void> {
  let done = start;
  while (done < end) done += await fdWrite(fd, b, done, end - done, pos + done);
}

/** Extracts a single-stream archive (.cxar) read from `source` into `target`. */
export async function extractArchive(source: ByteStream, target: PathLike, opts: ExtractOptions = {}): Promise<ExtractStats> {
  const t = absoluteFsPath(target);
  await prepareTarget(t, opts.allowExisting ?? false);
  return new Extractor(t, opts).run(decodeArchive(source, { layout: "single" }));
}

/** Extracts a split archive: metadata stream (.mcxar) plus random access to its payload (.pcxar). */
export async function extractSplitArchive(
  metadata: ByteStream,
  payload: RandomAccessReader,
  target: PathLike,
  opts: ExtractOptions = {},
): Promise<ExtractStats> {
  const t = absoluteFsPath(target);
  await prepareTarget(t, opts.allowExisting ?? false);
  return new Extractor(t, opts, payload).run(decodeArchive(metadata, { layout: "split" }));
}
