// Verify: check snapshots against their manifests and every referenced chunk once per job.
// Spec: datastore.md "Verify" and the locking-table rows "verify" (shared snapshot flock; the
// manifest is only updated through the manifest lock; a folder may vanish under a forget).
//
// Plain chunks: CRC, decode, SHA-256 = digest, decoded length = the index's chunk length.
// Encrypted chunks: CRC only (the server has no key). A corrupt chunk is renamed to
// `<digest>.N.bad` (first free N in 0…9; if all ten exist it is deleted) so a later backup can
// upload it again; a missing or corrupt chunk fails every snapshot that references it.

import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { decodeBlob, isFormatError, verifyBlobCrc } from "@cairn/format";
import type { DataStore } from "./datastore.js";
import { DatastoreError, errnoCode, isDatastoreError } from "./errors.js";
import type { FileLock } from "./flock.js";
import { existsSync, yieldToLoop } from "./internal/fs-util.js";
import { indexKindOfName, readIndexFile } from "./internal/index-reader.js";
import { type ManifestData, readManifestFile } from "./internal/manifest-file.js";
import { type SnapshotRef, snapshotToString, validateSnapshot } from "./names.js";

export interface VerifyProgress {
  done: number;
  total: number;
  snapshot: string;
}

export interface VerifyOptions {
  /** Snapshots to verify (default: every snapshot of the store). */
  snapshots?: SnapshotRef[];
  /** Skip snapshots whose last verify was "ok" less than this many days ago. */
  skipVerifiedWithinDays?: number;
  /** Only snapshots without a verify state. */
  onlyUnverified?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: VerifyProgress) => void;
  /** Each snapshot's result as soon as it is final (a task log shows them as they come). */
  onSnapshot?: (r: SnapshotVerifyResult) => void;
  /** Task id stored in verify_state (default: a PBS-style UPID made here). */
  upid?: string;
  /** Wait for a snapshot's lock this long before skipping it (default 0). */
  lockTimeoutMs?: number;
}

export type SnapshotVerifyOutcome = "ok" | "failed" | "skipped" | "vanished" | "locked" | "unfinished";

export interface SnapshotVerifyResult {
  snapshot: Required<SnapshotRef>;
  outcome: SnapshotVerifyOutcome;
  errors: string[];
}

export interface VerifyResult {
  upid: string;
  snapshots: SnapshotVerifyResult[];
  /** Distinct chunks read and checked in this job. */
  chunksChecked: number;
  corruptChunks: string[];
  missingChunks: string[];
  /** True when no verified snapshot failed. */
  ok: boolean;
}

let taskCounter = 0;

/** A PBS-shaped UPID: UPID:node:pid:pstart:task:starttime:type:id:user: (hex fields). */
export function makeUpid(kind: string, id: string, startSeconds = Math.floor(Date.now() / 1000)): string {
  const hex = (n: number, w: number) => n.toString(16).toUpperCase().padStart(w, "0");
  return `UPID:cairn:${hex(process.pid, 8)}:${hex(0, 8)}:${hex(taskCounter++, 8)}:${hex(startSeconds, 8)}:${kind}:${id}:root@pam:`;
}

/** Start time (epoch seconds) encoded in a UPID, if it has the PBS shape. */
export function upidStartTime(upid: string): number | undefined {
  const parts = upid.split(":");
  if (parts[0] !== "UPID" || parts.length < 6) return undefined;
  const t = Number.parseInt(parts[5], 16);
  return Number.isFinite(t) ? t : undefined;
}

function renameBad(chunkPath: string): void {
  for (let n = 0; n <= 9; n++) {
    const target = `${chunkPath}.${n}.bad`;
    if (existsSync(target)) continue;
    try {
      fs.renameSync(chunkPath, target);
    } catch (err) {
      if (errnoCode(err) !== "ENOENT") throw err;
    }
    return;
  }
  fs.rmSync(chunkPath, { force: true });
}

export async function runVerify(store: DataStore, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const upid = opts.upid ?? makeUpid("verify", path.basename(store.root));
  const targets = (opts.snapshots ?? store.allSnapshotRefs()).map((s) => validateSnapshot(s));
  const verified = new Set<string>();
  const corrupt = new Set<string>();
  const missing = new Set<string>();
  const result: VerifyResult = { upid, snapshots: [], chunksChecked: 0, corruptChunks: [], missingChunks: [], ok: true };
  const now = Date.now() / 1000;

  const checkChunk = async (digest: string, expectedLength: number): Promise<string | undefined> => {
    if (verified.has(digest)) return undefined;
    if (missing.has(digest)) return `chunk ${digest} is missing`;
    if (corrupt.has(digest)) return `chunk ${digest} is corrupt`;
    const p = store.layout.chunkPath(digest);
    let raw: Buffer;
    try {
      raw = await fs.promises.readFile(p);
    } catch (err) {
      if (errnoCode(err) !== "ENOENT") throw err;
      missing.add(digest);
      return `chunk ${digest} is missing`;
    }
    result.chunksChecked++;
    try {
      const info = verifyBlobCrc(raw);
      if (!info.encrypted) {
        const data = decodeBlob(raw, { digest: Buffer.from(digest, "hex") });
        if (expectedLength >= 0 && data.length !== expectedLength) {
          throw new Error(`decodes to ${data.length} bytes, the index says ${expectedLength}`);
        }
      }
      verified.add(digest);
      return undefined;
    } catch (err) {
      corrupt.add(digest);
      renameBad(p);
      return `chunk ${digest} is corrupt (${(err as Error).message}); renamed to .bad`;
    }
  };

  for (let k = 0; k < targets.length; k++) {
    // the previous snapshot's outcome is final now (every path through the loop body ends it)
    if (k > 0) opts.onSnapshot?.(result.snapshots[k - 1]);
    if (opts.signal?.aborted) throw new DatastoreError("ERR_ABORTED", "verify aborted", { resource: upid });
    const snap = targets[k];
    const name = snapshotToString(snap);
    opts.onProgress?.({ done: k, total: targets.length, snapshot: name });
    const entry: SnapshotVerifyResult = { snapshot: snap, outcome: "ok", errors: [] };
    result.snapshots.push(entry);
    const dir = store.layout.snapshotPath(snap);
    if (!existsSync(dir)) {
      entry.outcome = "vanished";
      entry.errors.push(`snapshot ${name} vanished (forgotten meanwhile)`);
      continue;
    }
    let lock: FileLock;
    try {
      lock = await store.lockSnapshot(snap, { mode: "shared", operation: "verify", timeoutMs: opts.lockTimeoutMs ?? 0 });
    } catch (err) {
      if (!isDatastoreError(err, "ERR_LOCKED")) throw err;
      entry.outcome = existsSync(dir) ? "locked" : "vanished";
      entry.errors.push(err.message);
      continue;
    }
    try {
      let manifest: ManifestData | undefined;
      try {
        manifest = readManifestFile(store.layout.manifestPath(snap));
      } catch (err) {
        if (!isDatastoreError(err, "ERR_BAD_MANIFEST")) throw err;
        entry.outcome = "failed";
        entry.errors.push(err.message);
        result.ok = false;
        continue;
      }
      if (!manifest) {
        entry.outcome = existsSync(dir) ? "unfinished" : "vanished";
        continue;
      }
      const vs = manifest.unprotected?.verify_state;
      if (opts.onlyUnverified && vs) {
        entry.outcome = "skipped";
        continue;
      }
      if (opts.skipVerifiedWithinDays !== undefined && vs?.state === "ok") {
        const t = upidStartTime(vs.upid);
        if (t !== undefined && now - t < opts.skipVerifiedWithinDays * 86400) {
          entry.outcome = "skipped";
          continue;
        }
      }
      for (const f of manifest.files) {
        const file = path.join(dir, f.filename);
        if (path.dirname(file) !== dir) {
          entry.errors.push(`manifest lists a bad file name ${JSON.stringify(f.filename)}`);
          continue;
        }
        try {
          if (indexKindOfName(f.filename)) {
            const idx = readIndexFile(file);
            const csum = idx.computeCsum();
            if (!csum.equals(idx.indexCsum) || csum.toString("hex") !== f.csum) {
              entry.errors.push(`${f.filename}: index checksum does not match the manifest`);
            }
            if (idx.size !== Number(f.size)) entry.errors.push(`${f.filename}: size ${idx.size} != manifest ${f.size}`);
            for (let i = 0; i < idx.chunkCount; i++) {
              const { start, end, digest } = idx.chunkInfo(i);
              const e = await checkChunk(digest.toString("hex"), end - start);
              if (e) entry.errors.push(`${f.filename}: ${e}`);
              if (i % 64 === 63) await yieldToLoop();
            }
          } else {
            const raw = fs.readFileSync(file);
            if (raw.length !== Number(f.size)) entry.errors.push(`${f.filename}: size ${raw.length} != manifest ${f.size}`);
            if (createHash("sha256").update(raw).digest("hex") !== f.csum) {
              entry.errors.push(`${f.filename}: checksum does not match the manifest`);
            }
            try {
              verifyBlobCrc(raw);
            } catch (err) {
              entry.errors.push(`${f.filename}: ${(err as Error).message}`);
            }
          }
        } catch (err) {
          // any file it cannot read (missing, a folder, no permission, an I/O error) fails this snapshot, not the whole run
          const errno = errnoCode(err);
          if ((typeof errno === "string" && /^E[A-Z]+$/.test(errno)) || isDatastoreError(err) || isFormatError(err)) {
            entry.errors.push(`${f.filename}: ${existsSync(dir) ? "missing or unreadable" : "snapshot vanished"} (${(err as Error).message})`);
          } else throw err;
        }
      }
      entry.outcome = entry.errors.length === 0 ? "ok" : "failed";
      if (entry.outcome === "failed") result.ok = false;
      try {
        await store.setVerifyState(snap, { state: entry.outcome === "ok" ? "ok" : "failed", upid });
      } catch (err) {
        if (!isDatastoreError(err, "ERR_NOT_FOUND")) throw err;
        entry.outcome = "vanished";
      }
    } finally {
      lock.release();
    }
  }
  if (targets.length > 0) opts.onSnapshot?.(result.snapshots[targets.length - 1]);
  opts.onProgress?.({ done: targets.length, total: targets.length, snapshot: "" });
  result.corruptChunks = [...corrupt];
  result.missingChunks = [...missing];
  return result;
}
