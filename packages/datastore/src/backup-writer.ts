// BackupWriter: one running backup, from openBackup to finish/abort. Spec: datastore.md
// "Locks" and the locking-table rows "create backup" and "create index file".
//
// Held while open: the group lock (flock, exclusive: one backup per group), the snapshot lock
// (flock, exclusive: the new snapshot cannot be forgotten or cleaned up), a shared ProcessLocker
// (GC in another process cannot start; GC in this process uses its start time as cutoff), and a
// shared snapshot lock on the base snapshot (the newest finished one whose verify state is not
// "failed"), so that its chunks can be re-used and it cannot be forgotten mid-backup.
// After finish/abort (or an I/O failure: "broken") every method throws ERR_WRITER_CLOSED.

import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import {
  DynamicIndexReader,
  FixedIndexReader,
  type IndexCloseResult,
  encodeDynamicIndex,
  encodeFixedIndex,
  isFormatError,
  verifyBlobCrc,
} from "@cairn/format";
import type { InsertResult } from "./chunk-store.js";
import { fsyncDir } from "./chunk-store.js";
import type { DataStore, SnapshotInfo } from "./datastore.js";
import { checkOwner } from "./datastore.js";
import { DatastoreError, errnoCode, isDatastoreError } from "./errors.js";
import { FileLock } from "./flock.js";
import { existsSync, writeFileAtomic } from "./internal/fs-util.js";
import { indexKindOfName, readIndexFile } from "./internal/index-reader.js";
import { type ManifestData, type ManifestFile, encodeManifest, parseManifestBlob, writeManifestRaw } from "./internal/manifest-file.js";
import { MANIFEST_BLOB, OWNER_FILE } from "./layout.js";
import {
  type BackupType,
  type SnapshotRef,
  formatBackupTime,
  groupToString,
  snapshotToString,
  validateArchiveName,
  validateSnapshot,
} from "./names.js";
import type { ProcessLockGuard } from "./process-locker.js";

export interface BackupWriterOptions {
  ns?: string;
  type: BackupType;
  id: string;
  /** Backup time, epoch seconds; must be newer than every snapshot of the group. */
  time: number;
  /** Auth id of the client; must match the group's owner file (created if missing). */
  owner: string;
  /** Written into lock files (default "backup"). */
  operation?: string;
  /** Wait for the ProcessLocker if a GC of another process holds it (default 0: fail at once). */
  lockTimeoutMs?: number;
}

/** What writeDynamicIndex / writeFixedIndex return: format's close result. */
export type WrittenIndex = IndexCloseResult;

export type BackupWriterState = "open" | "finished" | "aborted" | "broken";
export type CryptMode = ManifestFile["crypt-mode"];

export class BackupWriter {
  private stateValue: BackupWriterState = "open";
  private readonly files = new Map<string, ManifestFile>();

  private constructor(
    readonly store: DataStore,
    readonly snapshot: Required<SnapshotRef>,
    /** Snapshot folder. */
    readonly path: string,
    /** The previous snapshot this backup may re-use chunks of (shared-locked), if any. */
    readonly base: SnapshotInfo | undefined,
    private readonly locks: {
      group: FileLock;
      snapshot: FileLock;
      base: FileLock | undefined;
      process: ProcessLockGuard;
    },
  ) {}

  get state(): BackupWriterState {
    return this.stateValue;
  }

  static async open(store: DataStore, opts: BackupWriterOptions): Promise<BackupWriter> {
    const snap = validateSnapshot({ ns: opts.ns, type: opts.type, id: opts.id, time: opts.time });
    const owner = checkOwner(opts.owner);
    const operation = opts.operation ?? "backup";
    const layout = store.layout;
    if (snap.ns && !store.namespaceExists(snap.ns)) {
      throw new DatastoreError("ERR_NOT_FOUND", `namespace "${snap.ns}" does not exist`, { resource: snap.ns });
    }
    const groupName = groupToString(snap);
    const releases: (() => void | Promise<void>)[] = [];
    try {
      const group = await FileLock.acquire(layout.groupLockPath(snap), {
        mode: "exclusive",
        operation,
        resource: `backup group ${groupName}`,
      });
      releases.push(() => group.release());

      const groupDir = layout.groupPath(snap);
      fs.mkdirSync(groupDir, { recursive: true });
      const ownerFile = path.join(groupDir, OWNER_FILE);
      try {
        fs.writeFileSync(ownerFile, `${owner}\n`, { flag: "wx" });
      } catch (err) {
        if (errnoCode(err) !== "EEXIST") throw err;
        const current = fs.readFileSync(ownerFile, "utf8").split("\n")[0];
        if (current !== owner) {
          throw new DatastoreError("ERR_NOT_OWNER", `backup group ${groupName} is owned by ${current}, not ${owner}`, {
            resource: groupName,
          });
        }
      }

      const existing = store.listSnapshotRefs(snap);
      const newest = existing.at(-1);
      if (newest && newest.time === snap.time) {
        throw new DatastoreError("ERR_EXISTS", `snapshot ${snapshotToString(snap)} already exists`, {
          resource: layout.snapshotPath(snap),
        });
      }
      if (newest && newest.time > snap.time) {
        throw new DatastoreError(
          "ERR_TIME_ORDER",
          `backup time ${formatBackupTime(snap.time)} is not newer than the last snapshot ${formatBackupTime(newest.time)} of ${groupName}`,
          { resource: groupName },
        );
      }

      // The base: newest finished snapshot whose last verify did not fail.
      let base: SnapshotInfo | undefined;
      let baseLock: FileLock | undefined;
      const infos = store.listSnapshots(snap).reverse();
      const candidate = infos.find((i) => i.finished && i.verifyState?.state !== "failed");
      if (candidate) {
        baseLock = await FileLock.acquire(layout.snapshotLockPath(candidate), {
          mode: "shared",
          operation: `${operation} (base snapshot)`,
          resource: `snapshot ${snapshotToString(candidate)}`,
        });
        releases.push(() => baseLock?.release());
        if (existsSync(layout.manifestPath(candidate))) base = candidate;
      }

      const processLock = await store.locker.sharedLock({ operation, timeoutMs: opts.lockTimeoutMs ?? 0 });
      releases.push(() => processLock.release());

      const snapshotLock = await FileLock.acquire(layout.snapshotLockPath(snap), {
        mode: "exclusive",
        operation,
        resource: `snapshot ${snapshotToString(snap)}`,
      });
      releases.push(() => snapshotLock.release());
      const dir = layout.snapshotPath(snap);
      try {
        fs.mkdirSync(dir);
      } catch (err) {
        if (errnoCode(err) === "EEXIST") {
          throw new DatastoreError("ERR_EXISTS", `snapshot ${snapshotToString(snap)} already exists`, { resource: dir });
        }
        throw err;
      }
      return new BackupWriter(store, snap, dir, base, {
        group,
        snapshot: snapshotLock,
        base: baseLock,
        process: processLock,
      });
    } catch (err) {
      for (const r of releases.reverse()) await r();
      throw err;
    }
  }

  private assertOpen(what: string): void {
    if (this.stateValue !== "open") {
      throw new DatastoreError(
        "ERR_WRITER_CLOSED",
        `cannot ${what}: backup writer of ${snapshotToString(this.snapshot)} is ${this.stateValue}`,
        { resource: this.path },
      );
    }
  }

  /** Run an operation; an unexpected (I/O) failure leaves the writer broken (abort still works). */
  private async guarded<T>(what: string, fn: () => T | Promise<T>): Promise<T> {
    this.assertOpen(what);
    try {
      return await fn();
    } catch (err) {
      if (!isDatastoreError(err) && !isFormatError(err) && !(err instanceof RangeError)) this.stateValue = "broken";
      throw err;
    }
  }

  insertChunk(digest: string, blob: Uint8Array): Promise<InsertResult> {
    return this.guarded("insert a chunk", () => this.store.insertChunk(digest, blob));
  }

  /**
   * Register a chunk the client says is already stored (re-used from the base snapshot): touches
   * it so GC keeps it; false if it is not in the store (the client must upload it).
   */
  touchKnownChunk(digest: string): boolean {
    this.assertOpen("touch a known chunk");
    return this.store.touchChunk(digest);
  }

  /** Digests of the base snapshot's archive `name` (the "known chunks"), if it has one. */
  baseIndexDigests(name: string): string[] | undefined {
    this.assertOpen("read the base snapshot");
    if (!this.base || !indexKindOfName(validateArchiveName(name))) return undefined;
    const file = this.store.layout.archivePath(this.base, name);
    if (!existsSync(file)) return undefined;
    const idx = readIndexFile(file);
    return Array.from({ length: idx.chunkCount }, (_, i) => idx.digest(i).toString("hex"));
  }

  /** Validated path of an archive in the new snapshot (for index writers of @cairn/format). */
  archivePath(name: string): string {
    this.assertOpen("name an archive");
    return path.join(this.path, validateArchiveName(name));
  }

  /** Record an index written by someone else (e.g. @cairn/format's writers) at archivePath(name). */
  registerIndex(name: string, info: { csum: Uint8Array | string; size: number; cryptMode?: CryptMode }): void {
    this.assertOpen("register an index");
    const file = this.archivePath(name);
    if (!indexKindOfName(name)) throw new DatastoreError("ERR_BAD_NAME", `${name} is not an index file name`, { resource: name });
    if (!existsSync(file)) throw new DatastoreError("ERR_NOT_FOUND", `index ${file} was not written`, { resource: file });
    const csum = typeof info.csum === "string" ? info.csum : Buffer.from(info.csum).toString("hex");
    this.files.set(name, { filename: name, "crypt-mode": info.cryptMode ?? "none", size: info.size, csum });
  }

  writeDynamicIndex(name: string, entries: { end: number; digest: Uint8Array }[], cryptMode: CryptMode = "none"): Promise<WrittenIndex> {
    return this.guarded("write an index", () => {
      if (!name.endsWith(".didx")) throw new DatastoreError("ERR_BAD_NAME", `${name} must end in .didx`, { resource: name });
      // Encoded (and validated) in memory, then written via `name.tmp` + rename like other small files.
      const raw = encodeDynamicIndex({ entries });
      writeFileAtomic(this.archivePath(name), raw);
      const w = writtenIndex(DynamicIndexReader.fromBuffer(raw, { verifyCsum: false }));
      this.registerIndex(name, { ...w, cryptMode });
      return w;
    });
  }

  writeFixedIndex(name: string, size: number, chunkSize: number, digests: Uint8Array[], cryptMode: CryptMode = "none"): Promise<WrittenIndex> {
    return this.guarded("write an index", () => {
      if (!name.endsWith(".fidx")) throw new DatastoreError("ERR_BAD_NAME", `${name} must end in .fidx`, { resource: name });
      const raw = encodeFixedIndex({ size, chunkSize, digests });
      writeFileAtomic(this.archivePath(name), raw);
      const w = writtenIndex(FixedIndexReader.fromBuffer(raw, { verifyCsum: false }));
      this.registerIndex(name, { ...w, cryptMode });
      return w;
    });
  }

  /** Store a small file (an encoded data blob, CRC-checked) as `<name>.blob`, via tmp + rename. */
  writeBlob(name: string, raw: Uint8Array, cryptMode: CryptMode = "none"): Promise<{ size: number; csum: string }> {
    return this.guarded("write a blob", async () => {
      if (!name.endsWith(".blob")) throw new DatastoreError("ERR_BAD_NAME", `${name} must end in .blob`, { resource: name });
      const file = this.archivePath(name);
      try {
        verifyBlobCrc(raw);
      } catch (err) {
        throw new DatastoreError("ERR_BAD_CHUNK", `blob ${name}: ${(err as Error).message}`, { resource: file, cause: err });
      }
      await fs.promises.writeFile(`${file}.tmp`, raw);
      await fs.promises.rename(`${file}.tmp`, file);
      const csum = createHash("sha256").update(raw).digest("hex");
      this.files.set(name, { filename: name, "crypt-mode": cryptMode, size: raw.length, csum });
      return { size: raw.length, csum };
    });
  }

  /**
   * Finish: check the manifest (≥ 1 file, all present, matching this snapshot), check the base
   * snapshot still exists, write `index.json.blob` last (tmp + rename) and release every lock.
   * Without an argument the manifest is built from the files written through this writer.
   */
  async finish(manifest?: ManifestData | Buffer): Promise<ManifestData> {
    this.assertOpen("finish");
    const where = snapshotToString(this.snapshot);
    let data: ManifestData;
    let raw: Buffer | undefined;
    if (Buffer.isBuffer(manifest)) {
      raw = manifest;
      data = parseManifestBlob(manifest, `${where}/${MANIFEST_BLOB}`);
    } else {
      data = manifest ?? {
        "backup-type": this.snapshot.type,
        "backup-id": this.snapshot.id,
        "backup-time": this.snapshot.time,
        files: [...this.files.values()],
        unprotected: {},
        signature: null,
      };
    }
    if (
      data["backup-type"] !== this.snapshot.type ||
      data["backup-id"] !== this.snapshot.id ||
      data["backup-time"] !== this.snapshot.time
    ) {
      throw new DatastoreError("ERR_BAD_MANIFEST", `manifest does not describe snapshot ${where}`, { resource: this.path });
    }
    if (data.files.length === 0) {
      throw new DatastoreError("ERR_BAD_MANIFEST", `manifest of ${where} lists no files`, { resource: this.path });
    }
    for (const f of data.files) {
      const file = path.join(this.path, validateArchiveName(f.filename));
      if (!existsSync(file)) {
        throw new DatastoreError("ERR_BAD_MANIFEST", `manifest of ${where} lists ${f.filename}, which was not uploaded`, {
          resource: file,
        });
      }
    }
    if (this.base && !existsSync(this.store.layout.manifestPath(this.base))) {
      throw new DatastoreError(
        "ERR_BASE_VANISHED",
        `base snapshot ${snapshotToString(this.base)} of ${where} vanished during the backup`,
        { resource: this.store.layout.snapshotPath(this.base) },
      );
    }
    return this.guarded("finish", async () => {
      writeManifestRaw(path.join(this.path, MANIFEST_BLOB), raw ?? encodeManifest(data));
      await fsyncDir(this.path);
      this.stateValue = "finished";
      await this.releaseAll();
      return data;
    });
  }

  /** Remove the snapshot folder and release everything. A second abort is a no-op. */
  async abort(): Promise<void> {
    if (this.stateValue === "aborted") return;
    if (this.stateValue === "finished") this.assertOpen("abort");
    this.stateValue = "aborted";
    try {
      await fs.promises.rm(this.path, { recursive: true, force: true });
    } finally {
      await this.releaseAll(true);
    }
  }

  private async releaseAll(removed = false): Promise<void> {
    this.locks.snapshot.release({ unlink: removed });
    await this.locks.process.release();
    this.locks.base?.release();
    this.locks.group.release();
  }
}

function writtenIndex(r: FixedIndexReader | DynamicIndexReader): WrittenIndex {
  return { csum: r.indexCsum, size: r.size, chunkCount: r.chunkCount };
}
