// The encoder: walks a tree and streams a .cxar (contents inline) or, given a payload sink, a
// .mcxar whose file entries point into the payload stream (.pcxar). Files are read in pieces,
// small records are batched; a file that changes or vanishes while read gives a warning and the
// archive stays well-formed (a shrunk file is padded with zeros to its declared size).

import type { BigIntStats } from "node:fs";
import { closeSync, fstatSync, constants as fsc, openSync, readlinkSync, readSync } from "node:fs";
import { type FileHandle, open, readlink } from "node:fs/promises";
import { CatalogWriter } from "./catalog.js";
import {
  CXAR_MAGIC,
  type EntryKind,
  type EntryMeta,
  encodeEntry,
  encodeGoodbye,
  encodePayloadHeader,
  encodeStreamHeader,
  ENTRY_FIXED_SIZE,
  FLAG_HAS_LINKS,
  MCXAR_MAGIC,
  PAYLOAD_HEADER_SIZE,
  PCXAR_MAGIC,
  PREFIX_SIZE,
  storableNs,
} from "./format.js";
import type { ByteSink } from "./sinks.js";
import { AdaptiveIo } from "./internal/adaptive-io.js";
import type { PayloadSink, ReuseDecider, ReuseHint } from "./split.js";
import { type WalkEntry, type WalkEvent, type WalkOptions, walk } from "./walker.js";
import { defaultWarningHandler, makeWarning, type WarningHandler } from "./warnings.js";

export interface EncodeStats {
  entries: number;
  dirs: number;
  files: number;
  symlinks: number;
  hardlinks: number;
  devices: number;
  fifos: number;
  excluded: number;
  mountPoints: number;
  /** Regular files opened and read. */
  filesRead: number;
  /** Content bytes read from files. */
  bytesRead: number;
  /** Files whose payload was re-used from the previous snapshot without reading them. */
  filesReused: number;
  bytesReused: number;
  warnings: number;
  /** Bytes of the main output stream (.cxar or .mcxar). */
  archiveBytes: number;
}

export function newEncodeStats(): EncodeStats {
  return {
    entries: 0,
    dirs: 0,
    files: 0,
    symlinks: 0,
    hardlinks: 0,
    devices: 0,
    fifos: 0,
    excluded: 0,
    mountPoints: 0,
    filesRead: 0,
    bytesRead: 0,
    filesReused: 0,
    bytesReused: 0,
    warnings: 0,
    archiveBytes: 0,
  };
}

export interface EncodeOptions extends Omit<WalkOptions, "counters" | "onWarning"> {
  /** Receives the catalog (.ccat) of the archive. */
  catalog?: ByteSink;
  /** Split mode: file contents go here (.pcxar) and the returned stream is the .mcxar. */
  payload?: PayloadSink;
  /** Split mode: decides per regular file whether its previous payload can be re-used. */
  reusePayload?: ReuseDecider;
  stats?: EncodeStats;
  onWarning?: WarningHandler;
  /** Size of file read pieces (default 1 MiB). */
  readSize?: number;
  /** Size at which batched records are yielded (default 256 KiB). */
  flushSize?: number;
  /** How many small files (up to min(readSize, 128 KiB)) may be read ahead (default 16; 0 = off). */
  lookahead?: number;
}

/** Accumulates small records; tracks the stream position. */
class Output {
  private parts: Buffer[] = [];
  pending = 0;
  position = 0;

  push(b: Buffer): void {
    this.parts.push(b);
    this.pending += b.length;
    this.position += b.length;
  }

  take(): Buffer {
    const b = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.pending);
    this.parts = [];
    this.pending = 0;
    return b;
  }
}

function metaOf(st: BigIntStats): EntryMeta {
  return {
    mode: Number(st.mode),
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtimeNs: storableNs(st.mtimeNs),
    ctimeNs: storableNs(st.ctimeNs),
    ino: st.ino,
    dev: st.dev,
    size: 0,
    rdev: 0n,
    payloadOffset: 0,
    flags: 0,
  };
}

const OPEN_FLAGS = fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK;

interface DirState {
  offset: number;
  count: number;
  entry: WalkEntry;
}

/**
 * Encodes the tree at `root`. Yields the archive (.cxar, or .mcxar in split mode) in pieces.
 * In split mode the payload stream is written to `options.payload`, starting with its header.
 */
export async function* encodeArchive(root: string | Buffer, options: EncodeOptions = {}): AsyncGenerator<Buffer> {
  const stats = options.stats ?? newEncodeStats();
  const userWarn = options.onWarning ?? defaultWarningHandler;
  const warn: WarningHandler = (w) => {
    stats.warnings++;
    userWarn(w);
  };
  /** An entry's metadata; a time outside what the format holds is clamped, with a warning. */
  const entryMeta = (st: BigIntStats, rel: Buffer): EntryMeta => {
    const meta = metaOf(st);
    if (meta.mtimeNs !== st.mtimeNs) {
      const at = meta.mtimeNs > 0n ? "2262-04-11T23:47:16Z" : "1677-09-21T00:12:43Z";
      const was = new Date(Number(st.mtimeNs / 1_000_000_000n) * 1000).toISOString().replace(".000Z", "Z");
      warn(makeWarning(rel, "time-clamped", `mtime ${was} is outside what an archive holds (1677 to 2262); stored as ${at}`));
    }
    return meta;
  };
  const readSize = options.readSize ?? 1 << 20;
  const lookahead = options.lookahead ?? 16;
  const prefetchMax = Math.min(readSize, 128 * 1024);
  const flushSize = options.flushSize ?? 256 * 1024;
  const payload = options.payload;
  const split = payload !== undefined;
  const out = new Output();
  const catalog = options.catalog ? new CatalogWriter(options.catalog, split) : undefined;
  const links = new Map<string, Buffer>();
  const dirs: DirState[] = [];
  const counters = { excluded: 0 };

  out.push(encodeStreamHeader(split ? MCXAR_MAGIC : CXAR_MAGIC));
  if (payload) await payload.write(encodeStreamHeader(PCXAR_MAGIC));
  await catalog?.start();

  const addEntry = (kind: EntryKind, meta: EntryMeta, e: WalkEntry, tail?: Buffer, ref = 0): number => {
    const at = out.position;
    out.push(encodeEntry(kind, meta, e.name, tail));
    dirs[dirs.length - 1].count++;
    stats.entries++;
    catalog?.add({ kind, flags: meta.flags, name: e.name, size: meta.size, mtimeNs: meta.mtimeNs, entryOffset: at, ref });
    return at;
  };

  /**
   * Files, symlinks, fifos and devices with more than one name keep their links (as pxar and tar
   * do): a later name is a hardlink entry to the first. True when `e` was added so.
   */
  const otherLink = (e: WalkEntry): boolean => {
    if (e.stat.nlink <= 1n) return false;
    const first = links.get(`${e.stat.dev}:${e.stat.ino}`);
    if (!first) return false;
    addEntry("hardlink", entryMeta(e.stat, e.rel), e, first);
    stats.hardlinks++;
    return true;
  };
  const firstLink = (e: WalkEntry): void => {
    if (e.stat.nlink > 1n) links.set(`${e.stat.dev}:${e.stat.ino}`, e.rel);
  };

  /**
   * The rest of a file that shrank while read: warns, then yields the short piece `buf` (`got`
   * bytes read at `pos`) zero-filled to its length, and zeros up to the declared `size`.
   */
  function* padShrunk(buf: Buffer, got: number, pos: number, size: number, rel: Buffer): Generator<Buffer> {
    warn(makeWarning(rel, "size-changed", `shrank while read (${pos + got} of ${size} bytes); padded with zeros`));
    buf.fill(0, got);
    yield buf;
    for (let at = pos + buf.length; at < size; ) {
      const z = Math.min(readSize, size - at);
      yield Buffer.alloc(z);
      at += z;
    }
  }

  /** Reads exactly `size` bytes of an open file, padding with zeros if it shrank. */
  async function* readContent(fh: FileHandle, size: number, rel: Buffer): AsyncGenerator<Buffer> {
    let pos = 0;
    stats.filesRead++;
    while (pos < size) {
      const n = Math.min(readSize, size - pos);
      const buf = Buffer.allocUnsafe(n);
      let got = 0;
      while (got < n) {
        const { bytesRead } = await fh.read(buf, got, n - got, pos + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      stats.bytesRead += got;
      if (got < n) {
        yield* padShrunk(buf, got, pos, size, rel);
        return;
      }
      yield buf;
      pos += n;
    }
  }

  /**
   * readContent with synchronous reads: for a file in the page cache a read takes microseconds,
   * far less than a round trip through libuv's thread pool. Each read is timed by `io`, which
   * switches the encoder back to asynchronous reads when the filesystem turns slow.
   */
  function* readContentSync(fd: number, size: number, rel: Buffer): Generator<Buffer> {
    let pos = 0;
    stats.filesRead++;
    while (pos < size) {
      const n = Math.min(readSize, size - pos);
      const buf = Buffer.allocUnsafe(n);
      let got = 0;
      while (got < n) {
        const bytesRead = io.run(() => readSync(fd, buf, got, n - got, pos + got));
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      stats.bytesRead += got;
      if (got < n) {
        yield* padShrunk(buf, got, pos, size, rel);
        return;
      }
      yield buf;
      pos += n;
    }
  }

  function openWarning(e: WalkEntry, err: unknown): void {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") warn(makeWarning(e.rel, "vanished", "vanished before it was read"));
    else if (code === "ELOOP") warn(makeWarning(e.rel, "replaced", "replaced by a symlink before it was read"));
    else warn(makeWarning(e.rel, "unreadable", `cannot open: ${(err as Error).message}`));
  }

  /** openFile with synchronous calls (see readContentSync). */
  function openFileSync(e: WalkEntry): FileSource | undefined {
    let fd: number;
    try {
      fd = io.run(() => openSync(e.abs, OPEN_FLAGS));
    } catch (err) {
      openWarning(e, err);
      return undefined;
    }
    let st: BigIntStats;
    try {
      st = fstatSync(fd, { bigint: true });
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    if (!st.isFile()) {
      closeSync(fd);
      warn(makeWarning(e.rel, "replaced", "no longer a regular file"));
      return undefined;
    }
    let open = true;
    const close = () => {
      if (open) closeSync(fd);
      open = false;
    };
    return {
      st,
      pieces: readContentSync(fd, Number(st.size), e.rel),
      async done() {
        try {
          const after = fstatSync(fd, { bigint: true });
          reportChange(after, st, e.rel);
        } finally {
          close();
        }
      },
      close: async () => close(),
    };
  }

  /** An open regular file ready to be copied: its pieces, then `done()` (check + close). */
  interface FileSource {
    st: BigIntStats;
    pieces: AsyncIterable<Buffer> | Iterable<Buffer>;
    /** Reports a change during the read (if not done yet) and closes the file. */
    done(): Promise<void>;
    /** Closes without checking (on abort). */
    close(): Promise<void>;
  }

  async function openFile(e: WalkEntry): Promise<FileSource | undefined> {
    let fh: FileHandle;
    try {
      fh = await open(e.abs, OPEN_FLAGS);
    } catch (err) {
      openWarning(e, err);
      return undefined;
    }
    let st: BigIntStats;
    try {
      st = await fh.stat({ bigint: true });
    } catch (err) {
      await fh.close();
      throw err;
    }
    if (!st.isFile()) {
      await fh.close();
      warn(makeWarning(e.rel, "replaced", "no longer a regular file"));
      return undefined;
    }
    return {
      st,
      pieces: readContent(fh, Number(st.size), e.rel),
      async done() {
        try {
          await checkAfterRead(fh, st, e.rel);
        } finally {
          await fh.close();
        }
      },
      close: () => fh.close(),
    };
  }

  /** Reads a small file completely (ahead of time); larger-than-expected files stay open for streaming. */
  async function prefetchFile(e: WalkEntry): Promise<FileSource | undefined> {
    const src = await openFile(e);
    if (!src || Number(src.st.size) > prefetchMax) return src;
    try {
      const parts: Buffer[] = [];
      for await (const piece of src.pieces) parts.push(piece);
      await src.done();
      return { st: src.st, pieces: parts, done: async () => {}, close: async () => {} };
    } catch (err) {
      await src.close().catch(() => {});
      throw err;
    }
  }

  async function checkAfterRead(fh: FileHandle, st: BigIntStats, rel: Buffer): Promise<void> {
    reportChange(await fh.stat({ bigint: true }), st, rel);
  }

  function reportChange(after: BigIntStats, st: BigIntStats, rel: Buffer): void {
    if (after.size > st.size) warn(makeWarning(rel, "size-changed", `grew while read (${st.size} -> ${after.size} bytes); stored the first ${st.size}`));
    else if (after.size < st.size) return; // already reported by readContent
    else if (after.mtimeNs !== st.mtimeNs) warn(makeWarning(rel, "mtime-changed", "modified while read"));
  }

  // Lookahead: while the current entry is encoded, the next few small files of the same
  // directory are already being read (libuv runs the reads in parallel). The window never
  // crosses a directory boundary, so at most `lookahead` small files are held in memory.
  interface Item {
    ev: WalkEvent;
    hinted: boolean;
    hint?: ReuseHint;
    pre?: Promise<FileSource | undefined>;
  }
  const io = options.io ?? new AdaptiveIo();
  const walker = walk(root, { ...options, onWarning: warn, counters, io });
  const queue: Item[] = [];
  let walkDone = false;

  async function fillOne(): Promise<void> {
    const r = await walker.next();
    if (r.done) {
      walkDone = true;
      return;
    }
    const item: Item = { ev: r.value, hinted: false };
    const e = r.value.entry;
    // multiply linked files are decided in order (the first link may still be in the queue)
    if (r.value.type === "leaf" && e.kind === "file" && e.stat.nlink === 1n) {
      if (payload && options.reusePayload) {
        item.hint = await options.reusePayload(e.rel, e.stat);
        item.hinted = true;
      }
      if (!item.hint && lookahead > 0 && !io.syncOk && e.stat.size <= BigInt(prefetchMax)) {
        item.pre = prefetchFile(e);
        item.pre.catch(() => {});
      }
    }
    queue.push(item);
  }

  async function next(): Promise<Item | undefined> {
    if (queue.length === 0 && !walkDone) await fillOne();
    while (!walkDone && queue.length > 0 && queue.length <= lookahead && queue[queue.length - 1].ev.type === "leaf") await fillOne();
    return queue.shift();
  }

  try {
    for (let item = await next(); item; item = await next()) {
      const ev = item.ev;
      const e = ev.entry;
      if (ev.type === "enter") {
        const meta = entryMeta(e.stat, e.rel);
        const at = out.position;
        out.push(encodeEntry("dir", meta, e.name));
        if (dirs.length > 0) dirs[dirs.length - 1].count++;
        dirs.push({ offset: at, count: 0, entry: e });
        stats.entries++;
        stats.dirs++;
        if (e.mountPoint) stats.mountPoints++;
        catalog?.enterDir();
      } else if (ev.type === "leave") {
        const d = dirs.pop()!;
        out.push(encodeGoodbye(d.count, d.offset));
        if (catalog) {
          const table = await catalog.leaveDir();
          const length = out.position - d.offset;
          if (dirs.length > 0) {
            catalog.add({ kind: "dir", flags: 0, name: e.name, size: length, mtimeNs: storableNs(e.stat.mtimeNs), entryOffset: d.offset, ref: table });
          } else {
            await catalog.finish(table, length);
          }
        }
      } else if (e.kind === "symlink") {
        let target: Buffer;
        try {
          target = io.syncOk ? io.run(() => readlinkSync(e.abs, { encoding: "buffer" })) : await readlink(e.abs, { encoding: "buffer" });
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          warn(makeWarning(e.rel, code === "ENOENT" ? "vanished" : "replaced", `cannot read link: ${(err as Error).message}`));
          continue;
        }
        if (otherLink(e)) continue;
        const meta = entryMeta(e.stat, e.rel);
        if (e.stat.nlink > 1n) meta.flags |= FLAG_HAS_LINKS;
        addEntry("symlink", meta, e, target);
        firstLink(e);
        stats.symlinks++;
      } else if (e.kind === "device" || e.kind === "fifo") {
        if (otherLink(e)) continue;
        const meta = entryMeta(e.stat, e.rel);
        if (e.kind === "device") meta.rdev = e.stat.rdev;
        if (e.stat.nlink > 1n) meta.flags |= FLAG_HAS_LINKS;
        addEntry(e.kind, meta, e);
        firstLink(e);
        if (e.kind === "device") stats.devices++;
        else stats.fifos++;
      } else {
        // regular file
        if (otherLink(e)) continue;
        const linked = e.stat.nlink > 1n;
        const hint = item.hinted ? item.hint : payload && options.reusePayload ? await options.reusePayload(e.rel, e.stat) : undefined;
        let meta: EntryMeta;
        if (payload && hint) {
          meta = entryMeta(e.stat, e.rel);
          meta.size = Number(e.stat.size);
          meta.payloadOffset = await payload.reuse(hint.offset, PAYLOAD_HEADER_SIZE + meta.size);
          stats.filesReused++;
          stats.bytesReused += meta.size;
          if (linked) meta.flags |= FLAG_HAS_LINKS;
          addEntry("file", meta, e, undefined, meta.payloadOffset);
        } else {
          const src = item.pre ? await item.pre : io.syncOk ? openFileSync(e) : await openFile(e);
          item.pre = undefined;
          if (!src) continue;
          try {
            meta = entryMeta(src.st, e.rel);
            meta.size = Number(src.st.size);
            if (linked) meta.flags |= FLAG_HAS_LINKS;
            if (payload) {
              meta.payloadOffset = payload.position();
              await payload.write(encodePayloadHeader(meta.size));
              for await (const piece of src.pieces) await payload.write(piece);
              addEntry("file", meta, e, undefined, meta.payloadOffset);
            } else {
              addEntry("file", meta, e, undefined, out.position + PREFIX_SIZE + ENTRY_FIXED_SIZE + e.name.length);
              for await (const piece of src.pieces) {
                out.push(piece);
                if (out.pending >= flushSize) {
                  stats.archiveBytes += out.pending;
                  yield out.take();
                }
              }
            }
            await src.done();
          } finally {
            // after done() this is a no-op; on an error or an early stop of the consumer it closes
            await src.close().catch(() => {});
          }
        }
        firstLink(e);
        stats.files++;
      }
      if (out.pending >= flushSize) {
        stats.archiveBytes += out.pending;
        yield out.take();
      }
    }
  } finally {
    // stopped early or failed: close what the lookahead opened
    for (const item of queue) {
      const src = await item.pre?.catch(() => undefined);
      await src?.close().catch(() => {});
    }
    await walker.return(undefined);
  }
  stats.excluded += counters.excluded;
  if (out.pending > 0) {
    stats.archiveBytes += out.pending;
    yield out.take();
  }
}
