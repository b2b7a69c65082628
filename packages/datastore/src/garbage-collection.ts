// Garbage collection: mark (touch the atime of every chunk an index references) and sweep (remove
// chunks whose atime is older than the cutoff). Spec: datastore.md "Garbage collection" and the
// locking-table rows "GC mark" / "GC sweep" / "forget during GC mark".
//
// cutoff = min(phase1_start − safety, oldest_writer) − grace, with safety 24 h and grace 5 min by
// default (both configurable for tests). Chunks with cutoff ≤ atime < oldest_writer are "pending".
// Locks: the in-process gc mutex and the exclusive ProcessLocker for the whole run; forget in this
// process hands its digests over through `removed_during_gc` while we mark.

import fs from "node:fs";
import path from "node:path";
import { lstatOrUndefined, touchAtime } from "./chunk-store.js";
import type { DataStore } from "./datastore.js";
import { DatastoreError } from "./errors.js";
import { readdirOrEmpty, writeFileAtomic, yieldToLoop } from "./internal/fs-util.js";
import { type IndexReader, indexKindOfName, readIndexFile } from "./internal/index-reader.js";
import { CHUNK_FOLDER_COUNT, type Layout, TMP_CHUNK_MARKER, chunkFolderName } from "./layout.js";
import { BACKUP_TYPES, isBackupTimeName, isSafeName } from "./names.js";

export interface GcProgress {
  phase: "mark" | "sweep";
  done: number;
  total: number;
  percent: number;
}

export interface GcOptions {
  signal?: AbortSignal;
  onProgress?: (p: GcProgress) => void;
  /** Replaces the 24 h relatime window (seconds). Lower it only where atime updates are honoured. */
  atimeSafetySeconds?: number;
  /** The extra margin subtracted from the cutoff (seconds, default 300). */
  graceSeconds?: number;
  /** Wait this long for backups of other processes to release the ProcessLocker (default 0). */
  lockTimeoutMs?: number;
  /** Task id recorded in the status. */
  upid?: string;
}

/** GC result; times are epoch milliseconds. Written to `.gc-status`. */
export interface GcStatus {
  upid: string | undefined;
  startTime: number;
  endTime: number;
  cutoff: number;
  oldestWriter: number;
  indexFileCount: number;
  /** Sum of the data sizes of all indexes (what the backups represent). */
  indexDataBytes: number;
  removedChunks: number;
  /** Bytes of removed chunks and removed .bad files. */
  removedBytes: number;
  /** Chunks kept only because of the grace window/oldest writer (cutoff ≤ atime < oldest writer). */
  pendingChunks: number;
  pendingBytes: number;
  removedBad: number;
  /**
   * Temp chunk files (`<digest>.tmp_*`) left by a process killed while writing them, removed once
   * older than the cutoff and an hour (an insert renames its temp file within moments).
   */
  removedTempChunks: number;
  /** .bad files left after the sweep. */
  stillBad: number;
  /** Chunks kept with atime ≥ oldest writer (pending ones not included), and their bytes. */
  diskChunks: number;
  diskBytes: number;
  /** indexDataBytes / diskBytes (1 when nothing is stored). */
  dedupFactor: number;
  /** diskBytes / diskChunks (0 when nothing is stored). */
  averageChunkSize: number;
  /** Missing chunks and unreadable indexes found while marking. */
  warnings: string[];
}

const CHUNK_NAME = /^[0-9a-f]{64}$/;
const TEMP_NAME = new RegExp(`^[0-9a-f]{64}${TMP_CHUNK_MARKER.replace(".", "\\.")}[0-9a-f]+$`);
/** Temp chunk files younger than this are never removed by GC, whatever its cutoff. */
const TEMP_GRACE_MS = 3600_000;
const BAD_NAME = /^[0-9a-f]{64}\.[0-9]\.bad$/;
const ATIME_CHECK_FILE = ".atime-check";

/**
 * Touch a test file and confirm the file system kept the explicit atime while mtime stayed.
 * Throws ERR_ATIME if not (GC would then remove chunks still in use).
 */
export function checkAtimeUpdates(layout: Layout): void {
  const p = path.join(layout.chunkDir, ATIME_CHECK_FILE);
  fs.writeFileSync(p, "atime check\n");
  const old = Date.now() / 1000 - 7200;
  fs.utimesSync(p, old, old + 3600);
  const before = Date.now();
  touchAtime(p, before);
  const st = fs.lstatSync(p);
  if (Math.abs(st.atimeMs - before) > 2000 || Math.abs(st.mtimeMs - (old + 3600) * 1000) > 2000) {
    throw new DatastoreError(
      "ERR_ATIME",
      `file system of ${layout.root} does not keep explicit atime updates (atime ${st.atimeMs}, expected ${before}); GC would be unsafe`,
      { resource: layout.root },
    );
  }
}

/** Every index file of the store (all namespaces, groups, snapshots). */
export function listIndexFiles(store: DataStore): string[] {
  const out: string[] = [];
  const walkNs = (nsDir: string) => {
    for (const type of BACKUP_TYPES) {
      for (const g of readdirOrEmpty(path.join(nsDir, type))) {
        if (!g.isDirectory() || !isSafeName(g.name)) continue;
        const gdir = path.join(nsDir, type, g.name);
        for (const s of readdirOrEmpty(gdir)) {
          if (!s.isDirectory() || !isBackupTimeName(s.name)) continue;
          const sdir = path.join(gdir, s.name);
          for (const f of readdirOrEmpty(sdir)) if (f.isFile() && indexKindOfName(f.name)) out.push(path.join(sdir, f.name));
        }
      }
    }
    for (const child of readdirOrEmpty(path.join(nsDir, "ns"))) {
      if (child.isDirectory() && isSafeName(child.name)) walkNs(path.join(nsDir, "ns", child.name));
    }
  };
  walkNs(store.root);
  return out;
}

function aborted(): DatastoreError {
  return new DatastoreError("ERR_ABORTED", "garbage collection aborted", { resource: "gc" });
}

export async function runGarbageCollection(store: DataStore, opts: GcOptions = {}): Promise<GcStatus> {
  const state = store.processState;
  if (state.gcRunning) {
    throw new DatastoreError("ERR_LOCKED", `garbage collection of ${store.root} is already running in this process`, {
      resource: store.root,
      holder: "gc",
    });
  }
  state.gcRunning = true;
  let processLock: { release(): Promise<void> } | undefined;
  try {
    if (opts.signal?.aborted) throw aborted();
    processLock = await store.locker.exclusiveLock({ operation: "garbage collection", timeoutMs: opts.lockTimeoutMs ?? 0 });
    checkAtimeUpdates(store.layout);
    const startTime = Date.now();
    const oldestWriter = store.locker.oldestSharedLockTime() ?? startTime;
    const safety = (opts.atimeSafetySeconds ?? 24 * 3600) * 1000;
    const grace = (opts.graceSeconds ?? 300) * 1000;
    const cutoff = Math.min(startTime - safety, oldestWriter) - grace;
    const status: GcStatus = {
      upid: opts.upid,
      startTime,
      endTime: 0,
      cutoff,
      oldestWriter,
      indexFileCount: 0,
      indexDataBytes: 0,
      removedChunks: 0,
      removedBytes: 0,
      pendingChunks: 0,
      pendingBytes: 0,
      removedBad: 0,
      removedTempChunks: 0,
      stillBad: 0,
      diskChunks: 0,
      diskBytes: 0,
      dedupFactor: 1,
      averageChunkSize: 0,
      warnings: [],
    };

    // ---- phase 1: mark
    state.gcPhase = "mark";
    state.removedDuringGc = [];
    const touched = new Set<string>();
    const touch = (digest: string, where: string) => {
      if (touched.has(digest)) return;
      touched.add(digest);
      const p = store.layout.chunkPath(digest);
      if (touchAtime(p)) return;
      let bad = 0;
      for (let n = 0; n <= 9; n++) if (touchAtime(`${p}.${n}.bad`)) bad++;
      status.warnings.push(`chunk ${digest} referenced by ${where} is missing${bad ? ` (${bad} .bad file(s) kept)` : ""}`);
    };
    const files = listIndexFiles(store);
    for (let i = 0; i < files.length; i++) {
      if (opts.signal?.aborted) throw aborted();
      const file = files[i];
      let idx: IndexReader;
      try {
        idx = readIndexFile(file);
      } catch (err) {
        // A forgotten snapshot's index vanished: forget handed its digests to us.
        if (!fs.existsSync(file)) continue;
        // An index that exists but cannot be read may reference chunks nothing else does: sweeping
        // now could delete them. Like PBS, fail the whole run before the sweep.
        throw new DatastoreError("ERR_BAD_INDEX", `garbage collection stopped before sweeping: cannot read index ${file}: ${(err as Error).message}`, {
          resource: file,
          cause: err,
        });
      }
      status.indexFileCount++;
      status.indexDataBytes += idx.size;
      const rel = path.relative(store.root, file);
      for (let j = 0; j < idx.chunkCount; j++) touch(idx.digest(j).toString("hex"), rel);
      opts.onProgress?.({ phase: "mark", done: i + 1, total: files.length, percent: ((i + 1) * 100) / files.length });
      if (i % 16 === 15) await yieldToLoop();
    }
    await state.removedDuringGcMutex.run(() => {
      for (const d of state.removedDuringGc) touch(d, "a snapshot removed during GC");
      state.removedDuringGc = [];
      state.gcPhase = "sweep";
    });

    // ---- phase 2: sweep (a folder made after this listing only holds chunks newer than the cutoff)
    const folders = new Set(fs.readdirSync(store.layout.chunkDir));
    const tempCutoff = Math.min(cutoff, Date.now() - TEMP_GRACE_MS);
    for (let i = 0; i < CHUNK_FOLDER_COUNT; i++) {
      if (i % 256 === 0) {
        if (opts.signal?.aborted) throw aborted();
        opts.onProgress?.({ phase: "sweep", done: i, total: CHUNK_FOLDER_COUNT, percent: (i * 100) / CHUNK_FOLDER_COUNT });
        await yieldToLoop();
      }
      if (!folders.has(chunkFolderName(i))) continue;
      const folder = store.layout.chunkFolder(i);
      let names: string[];
      try {
        names = fs.readdirSync(folder);
      } catch {
        continue; // lazy folder not made yet
      }
      for (const name of names) {
        const bad = BAD_NAME.test(name);
        if (!bad && !CHUNK_NAME.test(name)) {
          if (TEMP_NAME.test(name)) {
            const tp = path.join(folder, name);
            const st = lstatOrUndefined(tp);
            if (st?.isFile() && st.mtimeMs < tempCutoff) {
              fs.rmSync(tp, { force: true });
              status.removedTempChunks++;
              status.removedBytes += st.size;
            }
          }
          continue;
        }
        const p = path.join(folder, name);
        // stat + unlink run synchronously: no insert of this process can interleave (chunk-store mutex)
        const st = lstatOrUndefined(p);
        if (!st?.isFile()) continue;
        if (st.atimeMs < cutoff) {
          fs.unlinkSync(p);
          if (bad) status.removedBad++;
          else status.removedChunks++;
          status.removedBytes += st.size;
        } else if (st.atimeMs < oldestWriter) {
          if (bad) status.stillBad++;
          else {
            status.pendingChunks++;
            status.pendingBytes += st.size;
          }
        } else if (bad) {
          status.stillBad++;
        } else {
          status.diskChunks++;
          status.diskBytes += st.size;
        }
      }
    }
    opts.onProgress?.({ phase: "sweep", done: CHUNK_FOLDER_COUNT, total: CHUNK_FOLDER_COUNT, percent: 100 });
    status.dedupFactor = status.diskBytes > 0 ? status.indexDataBytes / status.diskBytes : 1;
    status.averageChunkSize = status.diskChunks > 0 ? status.diskBytes / status.diskChunks : 0;
    status.endTime = Date.now();
    writeFileAtomic(store.layout.gcStatusFile, `${JSON.stringify(status, null, 2)}\n`);
    return status;
  } finally {
    state.gcPhase = "idle";
    state.removedDuringGc = [];
    await processLock?.release();
    state.gcRunning = false;
  }
}
