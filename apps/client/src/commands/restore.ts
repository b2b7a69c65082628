// `cairn restore SNAPSHOT ARCHIVE TARGET [--path SUBPATH]`: a file tree into a directory (legacy
// .cxar or split .mcxar + .pcxar), or an image into a file (zero blocks become holes). With
// --path only that file or subtree is restored, located through the archive's catalog.

import fs from "node:fs";
import path from "node:path";
import { type ArchiveWarning, type ExtractStats, displayPath, extractArchive, extractSplitArchive, openCatalog, restoreSubtree } from "@cairn/archive";
import type { CryptConfig } from "@cairn/format";
import type { Connection } from "../connection.js";
import { ClientError } from "../errors.js";
import { absolutePath } from "../local-path.js";
import { onInterrupt } from "../interrupt.js";
import { mbPerSecond } from "../output.js";
import { ChunkPool } from "../pipeline.js";
import { startProgress } from "../progress.js";
import { lookupArchivePath, normalizeArchivePath } from "../archive-path.js";
import { ChunkRangeReader, streamChunks } from "../restore-io.js";
import { type IndexReader, type OpenSnapshot, openIndex, openSnapshot, randomAccess, streamIndex } from "../remote.js";
import type { SnapshotSpec } from "../snapshot-spec.js";

export interface RestoreOptions {
  connection: Connection;
  snapshot: SnapshotSpec;
  archive: string;
  target: string;
  /** Restore only this path inside a file-tree archive. */
  path?: string;
  crypt?: { crypt: CryptConfig; key: Buffer };
  progress?: boolean;
  workers?: number;
  /** Things that went wrong with one entry (a partial file removed, an owner not set…). */
  onWarning?: (w: ArchiveWarning) => void;
}

export interface RestoreSummary {
  snapshot: string;
  archive: string;
  target: string;
  bytes: number;
  files?: number;
  durationSeconds: number;
  mbPerSecond: number;
}

export type ResolvedArchive =
  | { kind: "legacy"; name: string; file: string; catalog: string }
  | { kind: "split"; name: string; meta: string; payload: string; catalog: string }
  | { kind: "image"; name: string; file: string };

/** Finds the files of an archive given as `root.cxar`, `root`, `root.cxar.didx`, `disk.img` … */
export function resolveArchive(snap: OpenSnapshot, archive: string): ResolvedArchive {
  const has = (f: string) => snap.manifest.lookupFile(f) !== undefined;
  const base = archive.replace(/\.(didx|fidx)$/, "").replace(/\.(m|p)?cxar$/, "");
  if (has(`${base}.cxar.didx`)) return { kind: "legacy", name: `${base}.cxar`, file: `${base}.cxar.didx`, catalog: `${base}.ccat.didx` };
  if (has(`${base}.mcxar.didx`) && has(`${base}.pcxar.didx`)) {
    return { kind: "split", name: `${base}.cxar`, meta: `${base}.mcxar.didx`, payload: `${base}.pcxar.didx`, catalog: `${base}.ccat.didx` };
  }
  const img = archive.replace(/\.fidx$/, "");
  if (has(`${img}.fidx`)) return { kind: "image", name: img, file: `${img}.fidx` };
  const names = snap.manifest.files.map((f) => f.filename).filter((f) => f !== "index.json.blob");
  throw new ClientError("ERR_ARCHIVE_MISSING", `snapshot ${snap.name} has no archive "${archive}" (it has: ${names.join(", ")})`);
}

async function restoreImage(snap: OpenSnapshot, index: IndexReader, pool: ChunkPool, target: string, progress: boolean | undefined): Promise<number> {
  // The file is ours (O_EXCL): if the restore fails or is stopped, the partial image is removed,
  // not left looking like a restored one. A signal that comes while the file is being created
  // waits for the open to tell whether it was made.
  let complete = false;
  const opening = fs.promises.open(target, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  const removePartial = async () => {
    const created = await opening.then(
      () => true,
      () => false,
    );
    if (created && !complete) await fs.promises.unlink(target).catch(() => {});
  };
  const stopped = onInterrupt(`restore of ${path.basename(target)} was stopped and the partial image removed`, removePartial);
  const fh = await opening.catch((err: NodeJS.ErrnoException) => {
    stopped();
    throw new ClientError("ERR_TARGET", `cannot create ${target}: ${err.code === "EEXIST" ? "it already exists" : err.message}`);
  });
  const bar = startProgress(path.basename(target), index.size, progress);
  let pos = 0;
  // Positional writes do not depend on each other: a few stay in flight while the next chunks
  // download and decode. Each chunk is decoded into one of RING scratch buffers, which is reused
  // only after its write has finished.
  const RING = 4;
  const writes = new Set<Promise<void>>();
  const writeAt = (data: Buffer, at: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const step = (done: number) => {
        if (done >= data.length) return resolve();
        fs.write(fh.fd, data, done, data.length - done, at + done, (err, n) => (err ? reject(err) : step(done + n)));
      };
      step(0);
    });
  try {
    for await (const { data, busy } of streamChunks(snap, index, pool, { ring: RING, ahead: 12, aheadBytes: 32 << 20 })) {
      // Zero blocks become holes: only the runs of data are written, the final size fills the rest.
      const parts: Promise<void>[] = [];
      for (const [from, to] of dataRuns(data)) {
        const w = writeAt(data.subarray(from, to), pos + from);
        writes.add(w);
        w.then(
          () => writes.delete(w),
          () => {},
        );
        parts.push(w);
      }
      if (parts.length > 0) busy(parts.length === 1 ? parts[0] : Promise.all(parts));
      pos += data.length;
      bar.add(data.length);
    }
    await Promise.all(writes);
    await fh.truncate(pos);
    complete = true;
  } finally {
    stopped();
    await Promise.allSettled(writes);
    bar.stop();
    await fh.close();
    await removePartial();
  }
  return pos;
}

const ZERO_BLOCK = Buffer.alloc(64 * 1024);

/**
 * The [from, to) runs of a chunk that hold data, in 64 KiB blocks from the chunk's start: the
 * all-zero blocks are not written and stay holes of the new file, as a sparse copy leaves them
 * (on the bench image, 836 instead of 966 MB written, 0.5 s less system time). The file is new,
 * so it reads as zeros where nothing was written; chunk sizes are powers of two of at least
 * 64 KiB, so the blocks also fall on filesystem blocks.
 */
function dataRuns(b: Buffer): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  const step = ZERO_BLOCK.length;
  let start = -1;
  for (let i = 0; i < b.length; i += step) {
    const n = Math.min(step, b.length - i);
    const zero = b[i] === 0 && b[i + n - 1] === 0 && b.compare(ZERO_BLOCK, 0, n, i, i + n) === 0;
    if (zero) {
      if (start >= 0) runs.push([start, i]);
      start = -1;
    } else if (start < 0) start = i;
  }
  if (start >= 0) runs.push([start, b.length]);
  return runs;
}

export async function restore(opts: RestoreOptions): Promise<RestoreSummary> {
  const started = process.hrtime.bigint();
  const target = absolutePath(opts.target, "restore target", "ERR_TARGET");
  // made first: a bad CAIRN_WORKERS is refused before anything is opened
  const pool = new ChunkPool({ key: opts.crypt?.key, workers: opts.workers });
  const snap = await openSnapshot(opts.connection, opts.snapshot, opts.crypt?.crypt).catch(async (err: unknown) => {
    await pool.close();
    throw err;
  });
  let bytes = 0;
  let files: number | undefined;
  let stopped = () => {};
  try {
    const a = resolveArchive(snap, opts.archive);
    if (a.kind === "image") {
      if (opts.path) throw new ClientError("ERR_USAGE", "--path applies to file-tree archives only");
      bytes = await restoreImage(snap, await openIndex(snap, a.file), pool, target, opts.progress);
    } else {
      // Stopped midway, the restore is made to fail where it stands: closing the reader fails its
      // next chunk download, and the extractor then removes the file it was writing, lets the
      // files already queued be written, and ends; cairn exits once it has.
      let extracting: Promise<unknown> | undefined;
      stopped = onInterrupt(`restore into ${target} was stopped: the files restored so far stay there, and the file being written was removed`, async () => {
        await snap.reader.close().catch(() => {});
        await extracting?.catch(() => {});
      });
      const extract = async (): Promise<ExtractStats> => {
        let stats: ExtractStats;
        if (opts.path !== undefined && normalizeArchivePath(opts.path) !== "") {
          const sub = normalizeArchivePath(opts.path);
          const cat = await openCatalog(randomAccess(snap, await openIndex(snap, a.catalog), pool));
          const readers =
            a.kind === "legacy"
              ? randomAccess(snap, await openIndex(snap, a.file), pool)
              : { metadata: randomAccess(snap, await openIndex(snap, a.meta), pool), payload: randomAccess(snap, await openIndex(snap, a.payload), pool) };
          const found = await lookupArchivePath(cat, sub);
          if (!found) throw new ClientError("ERR_ARCHIVE_MISSING", `${a.name} has no path "${displayPath(Buffer.from(sub))}"`);
          stats = await restoreSubtree(cat, readers, found.path, target, { onWarning: opts.onWarning });
        } else if (a.kind === "legacy") {
          const index = await openIndex(snap, a.file);
          const bar = startProgress(a.name, index.size, opts.progress);
          const counted = (async function* () {
            for await (const b of streamIndex(snap, index, pool, 8)) {
              bar.add(b.length);
              yield b;
            }
          })();
          try {
            stats = await extractArchive(counted, target, { onWarning: opts.onWarning });
          } finally {
            bar.stop();
          }
        } else {
          const meta = await openIndex(snap, a.meta);
          const payload = await openIndex(snap, a.payload);
          stats = await extractSplitArchive(streamIndex(snap, meta, pool, 4), new ChunkRangeReader(snap, payload, pool), target, { onWarning: opts.onWarning });
        }
        return stats;
      };
      // the archive's refusal of the target is the same ERR_TARGET an image restore answers
      const run = extract().catch((err: unknown) => {
        if ((err as { code?: unknown } | null)?.code === "ERR_ARCHIVE_TARGET") throw new ClientError("ERR_TARGET", (err as Error).message, { cause: err });
        throw err;
      });
      extracting = run;
      const stats = await run;
      bytes = stats.bytes;
      files = stats.files;
    }
  } finally {
    stopped();
    await snap.reader.close().catch(() => {});
    await pool.close();
  }
  const durationSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  return {
    snapshot: snap.name,
    archive: opts.archive,
    target,
    bytes,
    files,
    durationSeconds: Math.round(durationSeconds * 1000) / 1000,
    mbPerSecond: Math.round(mbPerSecond(bytes, durationSeconds) * 10) / 10,
  };
}
