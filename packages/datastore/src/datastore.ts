// DataStore: one datastore folder — create/open, namespaces, groups, snapshots, owner, notes,
// the protected flag, manifest updates, forget, and the entry points of backup, GC, prune, verify
// and start-up cleanup. Spec: datastore.md (all sections); the locking table is kept by the lock
// calls named in each method's comment.

import fs from "node:fs";
import path from "node:path";
import { type BackupWriterOptions, BackupWriter } from "./backup-writer.js";
import { ChunkStore, type FsyncLevel, type InsertResult, touchAtime } from "./chunk-store.js";
import { DatastoreError, errnoCode, isDatastoreError } from "./errors.js";
import { FileLock, type LockMode } from "./flock.js";
import { type GcOptions, type GcStatus, checkAtimeUpdates, runGarbageCollection } from "./garbage-collection.js";
import { existsSync, readdirOrEmpty, writeFileAtomic } from "./internal/fs-util.js";
import { indexKindOfName, readIndexFile } from "./internal/index-reader.js";
import { type ManifestData, type VerifyState, encodeManifest, readManifestFile, writeManifestRaw } from "./internal/manifest-file.js";
import { StoreProcessState } from "./internal/store-state.js";
import {
  CHUNK_FOLDER_COUNT,
  GROUP_NOTES_FILE,
  Layout,
  MANIFEST_BLOB,
  OWNER_FILE,
  PROTECTED_FILE,
  TMP_CHUNK_MARKER,
  chunkFolderName,
} from "./layout.js";
import {
  BACKUP_TYPES,
  type BackupType,
  type GroupRef,
  type SnapshotRef,
  groupToString,
  isBackupTimeName,
  isSafeName,
  parseBackupTime,
  parseNamespace,
  snapshotToString,
  validateGroup,
  validateNamespace,
  validateSnapshot,
} from "./names.js";
import { type PruneOptions, type PruneResult, pruneGroup } from "./prune.js";
import { ProcessLocker } from "./process-locker.js";
import { type VerifyOptions, type VerifyResult, runVerify } from "./verify.js";
import { makeDirs } from "./make-dirs.js";

export interface DataStoreOptions {
  /** fsync level for new chunks (default "none"; see ChunkStore). */
  fsync?: FsyncLevel;
  /** Default wait for locks that may wait (manifest lock, ProcessLocker for forget). Default 10 s. */
  lockTimeoutMs?: number;
}

export interface CreateOptions extends DataStoreOptions {
  /**
   * Create the 65536 chunk folders on first use instead of at creation. For tests and throw-away
   * stores: creating and deleting 65536 folders costs seconds per store.
   */
  lazyChunkFolders?: boolean;
}

export interface OpenOptions extends DataStoreOptions {
  /** Run `cleanup()` right after opening (with its default grace period or the given one). */
  cleanup?: boolean | CleanupOptions;
}

export interface CleanupOptions {
  /** Only temp files older than this are removed (default 3600 s). */
  graceSeconds?: number;
}

export interface CleanupResult {
  removedTempChunks: number;
  removedTempFiles: number;
  removedUnfinished: SnapshotRef[];
  /** Snapshot lock files under `.locks/` whose snapshot no longer exists and nobody holds. */
  removedStaleLocks: number;
}

export interface GroupInfo {
  ns: string;
  type: BackupType;
  id: string;
  owner: string | undefined;
  snapshotCount: number;
  /** Time of the newest finished snapshot (epoch seconds). */
  lastBackup: number | undefined;
}

export interface SnapshotInfo extends Required<SnapshotRef> {
  /** RFC 3339 folder name. */
  timeString: string;
  /** The manifest exists. */
  finished: boolean;
  protected: boolean;
  files: { filename: string; size: number; cryptMode: string; csum: string }[];
  /** Sum of the manifest's file sizes. */
  size: number;
  verifyState: VerifyState | undefined;
  notes: string | undefined;
}

export interface LockSnapshotOptions {
  mode?: LockMode;
  operation?: string;
  timeoutMs?: number;
}

export interface ForgetOptions {
  operation?: string;
  /** Wait this long for the snapshot lock (default 0: fail at once if in use). */
  timeoutMs?: number;
}

export class DataStore {
  readonly root: string;
  readonly layout: Layout;
  readonly chunks: ChunkStore;
  readonly locker: ProcessLocker;
  readonly lockTimeoutMs: number;
  /** @internal per-process state shared with GC and forget */
  readonly processState: StoreProcessState;

  private constructor(root: string, opts: DataStoreOptions) {
    this.root = path.resolve(root);
    this.layout = new Layout(this.root);
    this.chunks = new ChunkStore(this.root, { fsync: opts.fsync });
    this.locker = ProcessLocker.forPath(this.layout.lockFile);
    this.lockTimeoutMs = opts.lockTimeoutMs ?? 10_000;
    this.processState = StoreProcessState.forRoot(this.root);
  }

  /** Create a datastore in `dir` (made if missing; must hold no store and nothing but hidden entries and lost+found). */
  static async create(dir: string, opts: CreateOptions = {}): Promise<DataStore> {
    const layout = new Layout(path.resolve(dir));
    const st = fs.statSync(layout.root, { throwIfNoEntry: false });
    if (st && !st.isDirectory()) throw new DatastoreError("ERR_EXISTS", `${layout.root} exists and is not a folder`, { resource: layout.root });
    makeDirs(layout.root);
    if (existsSync(layout.chunkDir)) {
      throw new DatastoreError("ERR_EXISTS", `a datastore already exists in ${layout.root}`, { resource: layout.root });
    }
    // As PBS does: a folder holding anything but hidden entries and lost+found is refused, since
    // the store would later list, prune and remove what is in its type folders (host/, vm/, ns/).
    const present = fs.readdirSync(layout.root).filter((n) => !n.startsWith(".") && n !== "lost+found");
    if (present.length > 0) {
      const shown = present.sort().slice(0, 3).map((n) => JSON.stringify(n)).join(", ");
      throw new DatastoreError("ERR_NOT_EMPTY", `${layout.root} is not empty (it holds ${shown}${present.length > 3 ? ", …" : ""}): a datastore needs an empty folder`, { resource: layout.root });
    }
    ChunkStore.createFolders(layout, opts.lazyChunkFolders ?? false);
    fs.mkdirSync(layout.locksDir, { recursive: true });
    fs.closeSync(fs.openSync(layout.lockFile, "a"));
    checkAtimeUpdates(layout);
    return new DataStore(layout.root, opts);
  }

  /** Open an existing datastore (ERR_NOT_DATASTORE when `dir` has no `.chunks`). */
  static async open(dir: string, opts: OpenOptions = {}): Promise<DataStore> {
    const layout = new Layout(path.resolve(dir));
    if (!existsSync(layout.chunkDir)) {
      throw new DatastoreError("ERR_NOT_DATASTORE", `${layout.root} is not a datastore (no .chunks folder)`, {
        resource: layout.root,
      });
    }
    fs.mkdirSync(layout.locksDir, { recursive: true });
    const store = new DataStore(layout.root, opts);
    if (opts.cleanup) await store.cleanup(opts.cleanup === true ? {} : opts.cleanup);
    return store;
  }

  // ---- chunks -------------------------------------------------------------------------------

  insertChunk(digest: string, blob: Uint8Array): Promise<InsertResult> {
    return this.chunks.insertChunk(digest, blob);
  }

  /** A chunk's blob; `alloc` gives the buffer it is read into (see ChunkStore.readChunk). */
  readChunk(digest: string, alloc?: (size: number) => Buffer): Promise<Buffer> {
    return this.chunks.readChunk(digest, alloc);
  }

  statChunk(digest: string): fs.Stats | null {
    return this.chunks.statChunk(digest);
  }

  // ---- namespaces ---------------------------------------------------------------------------

  createNamespace(ns: string): void {
    const parts = parseNamespace(ns);
    if (parts.length === 0) return;
    const parent = parts.slice(0, -1).join("/");
    if (!existsSync(this.layout.nsPath(parent))) {
      throw new DatastoreError("ERR_NOT_FOUND", `parent namespace "${parent}" does not exist`, { resource: parent });
    }
    fs.mkdirSync(this.layout.nsPath(ns), { recursive: true });
  }

  namespaceExists(ns: string): boolean {
    return existsSync(this.layout.nsPath(ns));
  }

  /** Direct child namespaces of `parent` ("" = root), as full paths "a/b". */
  listNamespaces(parent = ""): string[] {
    const p = validateNamespace(parent);
    return readdirOrEmpty(path.join(this.layout.nsPath(p), "ns"))
      .filter((d) => d.isDirectory() && isSafeName(d.name))
      .map((d) => (p ? `${p}/${d.name}` : d.name))
      .sort();
  }

  /** Every namespace, depth first, root ("") included. */
  listAllNamespaces(): string[] {
    const out: string[] = [];
    const walk = (ns: string) => {
      out.push(ns);
      for (const c of this.listNamespaces(ns)) walk(c);
    };
    walk("");
    return out;
  }

  // ---- groups -------------------------------------------------------------------------------

  listGroups(ns = ""): GroupInfo[] {
    const nsv = validateNamespace(ns);
    const out: GroupInfo[] = [];
    for (const type of BACKUP_TYPES) {
      for (const d of readdirOrEmpty(path.join(this.layout.nsPath(nsv), type))) {
        if (!d.isDirectory() || !isSafeName(d.name)) continue;
        const g: GroupRef = { ns: nsv, type, id: d.name };
        const snaps = this.listSnapshotRefs(g);
        let last: number | undefined;
        for (const s of snaps) if (existsSync(this.layout.manifestPath(s))) last = s.time;
        out.push({ ns: nsv, type, id: d.name, owner: this.getOwner(g), snapshotCount: snaps.length, lastBackup: last });
      }
    }
    return out;
  }

  getOwner(group: GroupRef): string | undefined {
    try {
      return fs.readFileSync(path.join(this.layout.groupPath(group), OWNER_FILE), "utf8").split("\n")[0];
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return undefined;
      throw err;
    }
  }

  setOwner(group: GroupRef, owner: string): void {
    const dir = this.requireGroup(group);
    writeFileAtomic(path.join(dir, OWNER_FILE), `${checkOwner(owner)}\n`);
  }

  getGroupNotes(group: GroupRef): string | undefined {
    try {
      return fs.readFileSync(path.join(this.layout.groupPath(group), GROUP_NOTES_FILE), "utf8");
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return undefined;
      throw err;
    }
  }

  setGroupNotes(group: GroupRef, notes: string): void {
    writeFileAtomic(path.join(this.requireGroup(group), GROUP_NOTES_FILE), notes);
  }

  private requireGroup(group: GroupRef): string {
    const dir = this.layout.groupPath(group);
    if (!existsSync(dir)) {
      throw new DatastoreError("ERR_NOT_FOUND", `backup group ${groupToString(group)} does not exist`, { resource: dir });
    }
    return dir;
  }

  // ---- snapshots ----------------------------------------------------------------------------

  /** Snapshot folders of a group, oldest first (finished or not). */
  listSnapshotRefs(group: GroupRef): Required<SnapshotRef>[] {
    const g = validateGroup(group);
    return readdirOrEmpty(this.layout.groupPath(g))
      .filter((d) => d.isDirectory() && isBackupTimeName(d.name))
      .map((d) => ({ ...g, time: parseBackupTime(d.name) }))
      .sort((a, b) => a.time - b.time);
  }

  /** Snapshots of a group with sizes and verify state, oldest first. */
  listSnapshots(group: GroupRef): SnapshotInfo[] {
    const out: SnapshotInfo[] = [];
    for (const s of this.listSnapshotRefs(group)) {
      const info = this.snapshotInfoOrUndefined(s);
      if (info) out.push(info);
    }
    return out;
  }

  snapshotInfo(snapshot: SnapshotRef): SnapshotInfo {
    const info = this.snapshotInfoOrUndefined(snapshot);
    if (!info) {
      throw new DatastoreError("ERR_NOT_FOUND", `snapshot ${snapshotToString(snapshot)} does not exist`, {
        resource: this.layout.snapshotPath(snapshot),
      });
    }
    return info;
  }

  private snapshotInfoOrUndefined(snapshot: SnapshotRef): SnapshotInfo | undefined {
    const s = validateSnapshot(snapshot);
    const dir = this.layout.snapshotPath(s);
    if (!existsSync(dir)) return undefined;
    let manifest: ManifestData | undefined;
    try {
      manifest = readManifestFile(path.join(dir, MANIFEST_BLOB));
    } catch (err) {
      if (!isDatastoreError(err, "ERR_BAD_MANIFEST")) throw err;
    }
    const files = (manifest?.files ?? []).map((f) => ({
      filename: f.filename,
      size: Number(f.size) || 0,
      cryptMode: f["crypt-mode"],
      csum: f.csum,
    }));
    const notes = manifest?.unprotected?.notes;
    return {
      ...s,
      timeString: path.basename(dir),
      // as PBS: finished when the manifest file is there. A damaged manifest does not make a
      // snapshot unfinished, or prune would remove it as a failed backup whatever the keep rules
      finished: manifest !== undefined || existsSync(path.join(dir, MANIFEST_BLOB)),
      protected: existsSync(path.join(dir, PROTECTED_FILE)),
      files,
      size: files.reduce((a, f) => a + f.size, 0),
      verifyState: manifest?.unprotected?.verify_state,
      notes: typeof notes === "string" ? notes : undefined,
    };
  }

  /** The parsed manifest; ERR_NOT_FOUND if the snapshot is missing or unfinished. */
  readManifest(snapshot: SnapshotRef): ManifestData {
    const m = readManifestFile(this.layout.manifestPath(snapshot));
    if (!m) {
      throw new DatastoreError("ERR_NOT_FOUND", `snapshot ${snapshotToString(snapshot)} has no manifest`, {
        resource: this.layout.manifestPath(snapshot),
      });
    }
    return m;
  }

  /** Take a flock on a snapshot (shared for readers/verify; exclusive for removal). */
  lockSnapshot(snapshot: SnapshotRef, opts: LockSnapshotOptions = {}): Promise<FileLock> {
    return FileLock.acquire(this.layout.snapshotLockPath(snapshot), {
      mode: opts.mode ?? "shared",
      operation: opts.operation ?? "reader",
      resource: `snapshot ${snapshotToString(snapshot)}`,
      timeoutMs: opts.timeoutMs ?? 0,
    });
  }

  /** The manifest lock `.index.json.lck` (exclusive): serializes manifest read-modify-write. */
  lockManifest(snapshot: SnapshotRef, operation: string, timeoutMs = this.lockTimeoutMs): Promise<FileLock> {
    return FileLock.acquire(this.layout.manifestLockPath(snapshot), {
      mode: "exclusive",
      operation,
      resource: `manifest of snapshot ${snapshotToString(snapshot)}`,
      timeoutMs,
      createParent: false,
    });
  }

  /**
   * Read-modify-write of the manifest under the manifest lock; the new manifest is written to a
   * temp file and renamed. `fn` may change `unprotected` only (signed fields must stay).
   */
  async updateManifest(
    snapshot: SnapshotRef,
    fn: (m: ManifestData) => void,
    opts: { operation?: string; timeoutMs?: number } = {},
  ): Promise<ManifestData> {
    const lock = await this.lockManifest(snapshot, opts.operation ?? "update manifest", opts.timeoutMs);
    try {
      const m = this.readManifest(snapshot);
      m.unprotected ??= {};
      fn(m);
      writeManifestRaw(this.layout.manifestPath(snapshot), encodeManifest(m));
      return m;
    } finally {
      lock.release();
    }
  }

  setSnapshotNotes(snapshot: SnapshotRef, notes: string): Promise<ManifestData> {
    return this.updateManifest(
      snapshot,
      (m) => {
        m.unprotected = { ...m.unprotected, notes };
      },
      { operation: "set notes" },
    );
  }

  setVerifyState(snapshot: SnapshotRef, state: VerifyState): Promise<ManifestData> {
    return this.updateManifest(
      snapshot,
      (m) => {
        m.unprotected = { ...m.unprotected, verify_state: state };
      },
      { operation: "verify" },
    );
  }

  isProtected(snapshot: SnapshotRef): boolean {
    return existsSync(path.join(this.layout.snapshotPath(snapshot), PROTECTED_FILE));
  }

  /** Set or clear `.protected`, under the manifest lock. */
  async setProtected(snapshot: SnapshotRef, flag: boolean): Promise<void> {
    const dir = this.layout.snapshotPath(snapshot);
    if (!existsSync(dir)) {
      throw new DatastoreError("ERR_NOT_FOUND", `snapshot ${snapshotToString(snapshot)} does not exist`, { resource: dir });
    }
    const lock = await this.lockManifest(snapshot, "set protected");
    try {
      const p = path.join(dir, PROTECTED_FILE);
      if (flag) fs.writeFileSync(p, "");
      else fs.rmSync(p, { force: true });
    } finally {
      lock.release();
    }
  }

  // ---- backup -------------------------------------------------------------------------------

  /** Start a backup: see BackupWriter for the locks it holds. */
  openBackup(opts: BackupWriterOptions): Promise<BackupWriter> {
    return BackupWriter.open(this, opts);
  }

  // ---- forget / prune -----------------------------------------------------------------------

  /**
   * Remove a snapshot. Locks: exclusive snapshot flock (fails with ERR_LOCKED while a backup,
   * reader or verify uses it), shared ProcessLocker (so a GC of *another* process, which holds
   * it exclusive, blocks forget instead of losing chunks), manifest lock; while a GC of this
   * process is marking, the index digests are handed to it (removed_during_gc) before unlinking.
   */
  async forgetSnapshot(snapshot: SnapshotRef, opts: ForgetOptions = {}): Promise<void> {
    const s = validateSnapshot(snapshot);
    const operation = opts.operation ?? "forget";
    const dir = this.layout.snapshotPath(s);
    const name = snapshotToString(s);
    if (!existsSync(dir)) throw new DatastoreError("ERR_NOT_FOUND", `snapshot ${name} does not exist`, { resource: dir });
    const snapLock = await FileLock.acquire(this.layout.snapshotLockPath(s), {
      mode: "exclusive",
      operation,
      resource: `snapshot ${name}`,
      timeoutMs: opts.timeoutMs ?? 0,
    });
    let removed = false;
    try {
      if (!existsSync(dir)) throw new DatastoreError("ERR_NOT_FOUND", `snapshot ${name} does not exist`, { resource: dir });
      if (this.isProtected(s)) throw new DatastoreError("ERR_PROTECTED", `snapshot ${name} is protected`, { resource: dir });
      const pl = await this.locker.sharedLock({ operation, timeoutMs: opts.timeoutMs ?? 0 });
      try {
        const mlock = await this.lockManifest(s, operation);
        try {
          if (this.isProtected(s)) {
            throw new DatastoreError("ERR_PROTECTED", `snapshot ${name} is protected`, { resource: dir });
          }
          await this.removeSnapshotDir(dir);
          removed = true;
        } finally {
          mlock.release();
        }
      } finally {
        await pl.release();
      }
    } finally {
      snapLock.release({ unlink: removed });
    }
  }

  /** Unlink a snapshot folder; its index digests go to a marking GC first (removed_during_gc). */
  private async removeSnapshotDir(dir: string): Promise<void> {
    const st = this.processState;
    await st.removedDuringGcMutex.run(() => {
      const entries = readdirOrEmpty(dir);
      const indexes = entries.filter((e) => e.isFile() && indexKindOfName(e.name));
      for (const e of indexes) {
        const file = path.join(dir, e.name);
        if (st.gcPhase === "mark") {
          try {
            const idx = readIndexFile(file);
            for (let i = 0; i < idx.chunkCount; i++) st.removedDuringGc.push(idx.digest(i).toString("hex"));
          } catch {
            // an unreadable index references nothing GC could keep
          }
        }
        fs.unlinkSync(file);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    });
  }

  /** Remove a whole group (every snapshot must be removable) and its lock folder. */
  async forgetGroup(group: GroupRef, opts: ForgetOptions = {}): Promise<void> {
    const g = validateGroup(group);
    const dir = this.requireGroup(g);
    const groupLock = await FileLock.acquire(this.layout.groupLockPath(g), {
      mode: "exclusive",
      operation: opts.operation ?? "forget group",
      resource: `backup group ${groupToString(g)}`,
      timeoutMs: opts.timeoutMs ?? 0,
    });
    try {
      for (const s of this.listSnapshotRefs(g).reverse()) await this.forgetSnapshot(s, opts);
      fs.rmSync(dir, { recursive: true, force: true });
    } finally {
      groupLock.release({ unlink: true });
    }
  }

  prune(group: GroupRef, options: PruneOptions, opts: { dryRun?: boolean } = {}): Promise<PruneResult> {
    return pruneGroup(this, group, options, opts);
  }

  // ---- GC / verify --------------------------------------------------------------------------

  garbageCollection(opts: GcOptions = {}): Promise<GcStatus> {
    return runGarbageCollection(this, opts);
  }

  /** The status of the last finished GC (`.gc-status`), if any. */
  lastGcStatus(): GcStatus | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.layout.gcStatusFile, "utf8")) as GcStatus;
    } catch {
      return undefined;
    }
  }

  verify(opts: VerifyOptions = {}): Promise<VerifyResult> {
    return runVerify(this, opts);
  }

  /** Every snapshot folder of every group of every namespace. */
  allSnapshotRefs(): Required<SnapshotRef>[] {
    const out: Required<SnapshotRef>[] = [];
    for (const ns of this.listAllNamespaces()) {
      for (const g of this.listGroups(ns)) out.push(...this.listSnapshotRefs(g));
    }
    return out;
  }

  // ---- start-up cleanup ---------------------------------------------------------------------

  /**
   * Remove leftovers of crashed writers: `<digest>.tmp_*` chunk files and `*.tmp` files older than
   * the grace period, and unfinished snapshot folders nobody holds a lock on.
   */
  async cleanup(opts: CleanupOptions = {}): Promise<CleanupResult> {
    const limit = Date.now() - (opts.graceSeconds ?? 3600) * 1000;
    const result: CleanupResult = { removedTempChunks: 0, removedTempFiles: 0, removedUnfinished: [], removedStaleLocks: 0 };
    const oldEnough = (p: string) => {
      try {
        return fs.lstatSync(p).mtimeMs <= limit;
      } catch {
        return false;
      }
    };
    const folders = new Set(fs.readdirSync(this.layout.chunkDir));
    for (let i = 0; i < CHUNK_FOLDER_COUNT; i++) {
      if (!folders.has(chunkFolderName(i))) continue;
      const folder = this.layout.chunkFolder(i);
      let names: string[];
      try {
        names = fs.readdirSync(folder);
      } catch {
        continue;
      }
      for (const n of names) {
        if (!n.includes(TMP_CHUNK_MARKER)) continue;
        const p = path.join(folder, n);
        if (oldEnough(p)) {
          fs.rmSync(p, { force: true });
          result.removedTempChunks++;
        }
      }
      if (i % 4096 === 4095) await new Promise((r) => setImmediate(r));
    }
    for (const s of this.allSnapshotRefs()) {
      const dir = this.layout.snapshotPath(s);
      const lock = FileLock.tryAcquire(this.layout.snapshotLockPath(s), {
        mode: "exclusive",
        operation: "cleanup",
        resource: `snapshot ${snapshotToString(s)}`,
      });
      if (!lock) continue; // in use: a running backup, a reader, verify or forget
      let removed = false;
      try {
        if (!existsSync(path.join(dir, MANIFEST_BLOB))) {
          await this.removeSnapshotDir(dir);
          result.removedUnfinished.push(s);
          removed = true;
          continue;
        }
        const mlock = FileLock.tryAcquire(this.layout.manifestLockPath(s), {
          mode: "exclusive",
          operation: "cleanup",
          resource: `manifest of snapshot ${snapshotToString(s)}`,
          createParent: false,
        });
        if (!mlock) continue;
        try {
          for (const e of readdirOrEmpty(dir)) {
            const p = path.join(dir, e.name);
            if (e.isFile() && e.name.endsWith(".tmp") && oldEnough(p)) {
              fs.rmSync(p, { force: true });
              result.removedTempFiles++;
            }
          }
        } finally {
          mlock.release();
        }
      } finally {
        lock.release({ unlink: removed });
      }
    }
    result.removedStaleLocks = this.removeStaleSnapshotLocks();
    return result;
  }

  /** Snapshot lock files of vanished snapshots (e.g. left by readers), if nobody holds them. */
  private removeStaleSnapshotLocks(): number {
    let removed = 0;
    const walk = (lockNsDir: string, dataNsDir: string) => {
      for (const type of BACKUP_TYPES) {
        for (const g of readdirOrEmpty(path.join(lockNsDir, type))) {
          if (!g.isDirectory()) continue;
          for (const f of readdirOrEmpty(path.join(lockNsDir, type, g.name))) {
            if (!f.isFile() || !isBackupTimeName(f.name)) continue;
            if (existsSync(path.join(dataNsDir, type, g.name, f.name))) continue;
            const p = path.join(lockNsDir, type, g.name, f.name);
            const lock = FileLock.tryAcquire(p, { mode: "exclusive", operation: "cleanup", resource: p, createParent: false });
            if (!lock) continue;
            if (!existsSync(path.join(dataNsDir, type, g.name, f.name))) {
              lock.release({ unlink: true });
              removed++;
            } else lock.release();
          }
        }
      }
      for (const c of readdirOrEmpty(path.join(lockNsDir, "ns"))) {
        if (c.isDirectory()) walk(path.join(lockNsDir, "ns", c.name), path.join(dataNsDir, "ns", c.name));
      }
    };
    walk(this.layout.locksDir, this.root);
    return removed;
  }

  /** @internal touch a chunk (keeping mtime) — used by BackupWriter for known chunks. */
  touchChunk(digest: string): boolean {
    return touchAtime(this.chunks.chunkPath(digest));
  }
}

export function checkOwner(owner: string): string {
  if (typeof owner !== "string" || owner.length === 0 || owner.length > 256 || /[\n\r\0]/.test(owner)) {
    throw new DatastoreError("ERR_BAD_NAME", `invalid owner ${JSON.stringify(owner)}`, { resource: String(owner) });
  }
  return owner;
}
