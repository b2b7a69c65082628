// On-disk layout: every path the datastore touches is built here, from names already validated
// by names.ts. Spec: datastore.md "Layout".
//
// Lock files live outside the data folders, under `<datastore>/.locks/`, mirroring the data tree:
//   .locks/[ns/<a>/ns/<b>/]<type>/<id>/.group     group lock (one running backup per group)
//   .locks/[ns/<a>/ns/<b>/]<type>/<id>/<time>     snapshot lock
// so that removing a snapshot folder never removes a lock file someone still holds (flock is tied
// to the inode: a lock on an unlinked file would no longer exclude a new opener).

import path from "node:path";
import {
  type GroupRef,
  type SnapshotRef,
  formatBackupTime,
  parseNamespace,
  validateArchiveName,
  validateDigest,
  validateGroup,
  validateSnapshot,
} from "./names.js";

export const CHUNK_DIR = ".chunks";
export const LOCK_FILE = ".lock";
export const LOCKS_DIR = ".locks";
export const GC_STATUS_FILE = ".gc-status";
export const OWNER_FILE = "owner";
export const GROUP_NOTES_FILE = "notes";
export const PROTECTED_FILE = ".protected";
export const MANIFEST_BLOB = "index.json.blob";
export const MANIFEST_LOCK_FILE = ".index.json.lck";
export const CHUNK_FOLDER_COUNT = 65536;
export const TMP_CHUNK_MARKER = ".tmp_";

/** `0000` … `ffff`: the chunk folder of a digest is its first 4 hex digits. */
export function chunkFolderName(i: number): string {
  return i.toString(16).padStart(4, "0");
}

export class Layout {
  constructor(readonly root: string) {}

  get chunkDir(): string {
    return path.join(this.root, CHUNK_DIR);
  }
  get lockFile(): string {
    return path.join(this.root, LOCK_FILE);
  }
  get locksDir(): string {
    return path.join(this.root, LOCKS_DIR);
  }
  get gcStatusFile(): string {
    return path.join(this.root, GC_STATUS_FILE);
  }

  chunkFolder(i: number): string {
    return path.join(this.root, CHUNK_DIR, chunkFolderName(i));
  }

  chunkPath(digest: string): string {
    validateDigest(digest);
    return path.join(this.root, CHUNK_DIR, digest.slice(0, 4), digest);
  }

  /** `<root>/ns/a/ns/b` for "a/b". */
  nsPath(ns: string | undefined, base = this.root): string {
    const parts = parseNamespace(ns ?? "");
    let p = base;
    for (const c of parts) p = path.join(p, "ns", c);
    return p;
  }

  groupPath(g: GroupRef): string {
    const v = validateGroup(g);
    return path.join(this.nsPath(v.ns), v.type, v.id);
  }

  snapshotPath(s: SnapshotRef): string {
    const v = validateSnapshot(s);
    return path.join(this.groupPath(v), formatBackupTime(v.time));
  }

  archivePath(s: SnapshotRef, name: string): string {
    return path.join(this.snapshotPath(s), validateArchiveName(name));
  }

  manifestPath(s: SnapshotRef): string {
    return path.join(this.snapshotPath(s), MANIFEST_BLOB);
  }

  manifestLockPath(s: SnapshotRef): string {
    return path.join(this.snapshotPath(s), MANIFEST_LOCK_FILE);
  }

  groupLockPath(g: GroupRef): string {
    const v = validateGroup(g);
    return path.join(this.nsPath(v.ns, this.locksDir), v.type, v.id, ".group");
  }

  snapshotLockPath(s: SnapshotRef): string {
    const v = validateSnapshot(s);
    return path.join(this.nsPath(v.ns, this.locksDir), v.type, v.id, formatBackupTime(v.time));
  }
}
