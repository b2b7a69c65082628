// @cairn/client — the cairn backup client: the `cairn` CLI (cli.ts) and this programmatic API.
//
// Glossary
// - repository: `[[user@realm[!token]@]host[:port]:]datastore`, where backups go (repository.ts).
// - snapshot: `TYPE/ID/TIME` (e.g. host/web1/2026-11-22T15:04:05Z); a group is `TYPE/ID`.
// - archive: one backed-up source in a snapshot: a file tree `NAME.cxar` (stored as
//   `NAME.cxar.didx`, or split `NAME.mcxar.didx` + `NAME.pcxar.didx`) or an image `NAME.img`
//   (`NAME.img.fidx`); each tree also gets a catalog `NAME.ccat.didx`.
// - change detection: `legacy` reads every file; `metadata` re-uses the previous snapshot's payload
//   chunks for files whose size/mtime/ctime/inode did not change, without reading them.
// - chunk pool: worker threads that hash, compress and encrypt chunks (pipeline.ts).
//
// Invariants: index entries are appended in stream order; only chunks unknown to the session are
// uploaded; an encrypted snapshot's manifest is signed and a wrong key is refused before any data.

export { type ArchiveSummary, type BackupOptions, type BackupSource, type BackupSummary, type ChangeDetectionMode, backup, parseSource } from "./commands/backup.js";
export { type RestoreOptions, type RestoreSummary, restore, resolveArchive } from "./commands/restore.js";
export { catalogList, type CatalogListing } from "./commands/catalog.js";
export { forget, gc, listGroups, listSnapshots, prune, status, taskLog, verify } from "./commands/manage.js";
export { keyChangePassphrase, keyCreate, keyShow } from "./commands/key.js";
export { type BenchResult, localBenchmark } from "./commands/benchmark.js";
export { type Connection, openConnection, probeFingerprint, type RepoOptions } from "./connection.js";
export { ClientError, describeError, errorLine } from "./errors.js";
export { formatRepository, parseRepository, type Repository } from "./repository.js";
export { parseGroup, parseSnapshot, formatSnapshot, type SnapshotSpec } from "./snapshot-spec.js";
export { ChunkPool } from "./pipeline.js";
export { ReusingPayloadSink } from "./payload-sink.js";
export { openKeyFile } from "./keys.js";
