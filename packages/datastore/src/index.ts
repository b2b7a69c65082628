// @cairn/datastore — chunk store, snapshots, locking, garbage collection, prune and verify.
// Implements /work/shared/spec/datastore.md; byte formats from format.md via @cairn/format.
//
// Glossary
// - datastore: a folder holding `.chunks/` plus the backup tree; `.lock` is its ProcessLocker.
// - chunk: an encoded data blob stored as `.chunks/<first 4 hex>/<digest>`; digest = SHA-256 of
//   the plain data (keyed for encrypted chunks).
// - namespace: `ns/<a>/ns/<b>/…` (≤ 7 deep); group: `<type>/<id>` with an `owner` file;
//   snapshot: `<group>/<RFC 3339 UTC time>/` holding index files, blobs and the manifest.
// - index: `.fidx`/`.didx` list of chunk digests; manifest: `index.json.blob`, written last.
// - base snapshot: the newest finished, not-failed snapshot a running backup may re-use chunks of.
//
// Invariants
// 1. A snapshot with a manifest is finished; nothing writes into it except the manifest's
//    `unprotected` part, under the manifest lock, by tmp + rename.
// 2. A chunk file's content always matches its name's size/kind rules; writes go through
//    `<digest>.tmp_<random>` + rename, so readers never see partial chunks.
// 3. GC never removes a chunk referenced by an index, by a backup still running (oldest shared
//    lock cutoff) or by an index removed while GC marks (removed_during_gc hand-over).
// 4. One running backup per group (group flock); a snapshot in use (backup, reader, verify, base)
//    cannot be forgotten or pruned (snapshot flock).
// 5. Every name is validated before a path is built; every failure is a DatastoreError with a code.

export { DataStore } from "./datastore.js";
export type {
  CleanupOptions,
  CleanupResult,
  CreateOptions,
  DataStoreOptions,
  ForgetOptions,
  GroupInfo,
  LockSnapshotOptions,
  OpenOptions,
  SnapshotInfo,
} from "./datastore.js";
export { BackupWriter } from "./backup-writer.js";
export type { BackupWriterOptions, BackupWriterState, CryptMode, WrittenIndex } from "./backup-writer.js";
export { ChunkStore, touchAtime } from "./chunk-store.js";
export type { ChunkStoreOptions, FsyncLevel, InsertResult } from "./chunk-store.js";
export { DatastoreError, isDatastoreError } from "./errors.js";
export type { DatastoreErrorCode } from "./errors.js";
export { FileLock, readLockHolder } from "./flock.js";
export type { FileLockOptions, LockMode } from "./flock.js";
export { ProcessLocker } from "./process-locker.js";
export type { ProcessLockGuard, ProcessLockOptions } from "./process-locker.js";
export { checkAtimeUpdates, listIndexFiles } from "./garbage-collection.js";
export type { GcOptions, GcProgress, GcStatus } from "./garbage-collection.js";
export { computePrune, isoWeek } from "./prune.js";
export type { PruneCandidate, PruneDecision, PruneOptions, PruneReason, PruneResult } from "./prune.js";
export { makeUpid, upidStartTime } from "./verify.js";
export type { SnapshotVerifyOutcome, SnapshotVerifyResult, VerifyOptions, VerifyProgress, VerifyResult } from "./verify.js";
export { makeDirs } from "./make-dirs.js";
export { Layout, CHUNK_FOLDER_COUNT, MANIFEST_BLOB, MANIFEST_LOCK_FILE } from "./layout.js";
export * from "./names.js";
export type { IndexKind } from "./internal/index-reader.js";
export type { ManifestData, ManifestFile, VerifyState } from "./internal/manifest-file.js";
export { encodeManifest, parseManifestBlob } from "./internal/manifest-file.js";
