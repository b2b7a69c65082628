// FileLock: flock(2) locks on separate lock files (group, snapshot and manifest locks).
// flock belongs to the open file description, so two opens in one process conflict like two
// processes do: "a second backup of the same group" is refused in-process too.
// Spec: datastore.md "Locks" (group, snapshot and manifest locks; timeouts; ERR_LOCKED naming
// the holder). After taking a lock the holder writes its operation name into the file so that a
// refused caller can say who holds it.

import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import fsExt from "fs-ext";
import { DatastoreError, errnoCode } from "./errors.js";

export type LockMode = "exclusive" | "shared";

export interface FileLockOptions {
  mode: LockMode;
  /** What the holder is doing ("backup", "forget", "verify" …); written into the lock file. */
  operation: string;
  /** Human name of the guarded resource, used in error messages ("snapshot vm/100/…"). */
  resource: string;
  /** How long to wait for a conflicting holder; 0 (default) = fail at once. */
  timeoutMs?: number;
  /** Poll interval while waiting (flock is tried non-blocking so no thread-pool thread blocks). */
  pollMs?: number;
  /**
   * Make the lock file's folder if missing (default true). False for locks inside a data folder
   * (the manifest lock): a vanished snapshot folder is then ERR_NOT_FOUND, never re-created.
   */
  createParent?: boolean;
}

const HOLDER_RECORD_SIZE = 256;

function isWouldBlock(err: unknown): boolean {
  const c = errnoCode(err);
  return c === "EAGAIN" || c === "EWOULDBLOCK" || c === "EACCES";
}

/** Reads the operation record a holder left in a lock file ("backup, pid 1234"), if any. */
export function readLockHolder(lockPath: string): string | undefined {
  try {
    const text = fs.readFileSync(lockPath, "utf8").trim();
    if (!text) return undefined;
    const rec = JSON.parse(text) as { operation?: string; pid?: number };
    return rec.operation ? `${rec.operation} (pid ${rec.pid})` : undefined;
  } catch {
    return undefined;
  }
}

export function holderRecord(operation: string): Buffer {
  const json = JSON.stringify({ operation, pid: process.pid, since: Date.now() });
  const buf = Buffer.alloc(Math.max(HOLDER_RECORD_SIZE, json.length + 1), " ");
  buf.write(json, 0, "utf8");
  buf[buf.length - 1] = 0x0a;
  return buf;
}

export function lockedError(resource: string, holder: string | undefined, lockPath: string): DatastoreError {
  const by = holder ? ` by ${holder}` : "";
  return new DatastoreError("ERR_LOCKED", `${resource} is locked${by}`, { resource: lockPath, holder });
}

function vanished(resource: string, lockPath: string): DatastoreError {
  return new DatastoreError("ERR_NOT_FOUND", `${resource} no longer exists`, { resource: lockPath });
}

export class FileLock {
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    readonly mode: LockMode,
    readonly operation: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  get held(): boolean {
    return this.fd !== undefined;
  }

  /** Take the lock or throw ERR_LOCKED (after `timeoutMs` of polling). */
  static async acquire(lockPath: string, opts: FileLockOptions): Promise<FileLock> {
    const deadline = Date.now() + (opts.timeoutMs ?? 0);
    for (;;) {
      const lock = FileLock.tryAcquire(lockPath, opts);
      if (lock) return lock;
      if (Date.now() >= deadline) throw lockedError(opts.resource, readLockHolder(lockPath), lockPath);
      await sleep(Math.min(opts.pollMs ?? 20, Math.max(1, deadline - Date.now())));
    }
  }

  /** One non-blocking attempt; undefined if someone else holds a conflicting lock. */
  static tryAcquire(lockPath: string, opts: FileLockOptions): FileLock | undefined {
    for (;;) {
      const createParent = opts.createParent ?? true;
      if (createParent) fs.mkdirSync(path.dirname(lockPath), { recursive: true });
      let fd: number;
      try {
        fd = fs.openSync(lockPath, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
      } catch (err) {
        if (!createParent && errnoCode(err) === "ENOENT") throw vanished(opts.resource, lockPath);
        throw err;
      }
      try {
        fsExt.flockSync(fd, opts.mode === "exclusive" ? "exnb" : "shnb");
      } catch (err) {
        fs.closeSync(fd);
        if (isWouldBlock(err)) return undefined;
        throw err;
      }
      // The file may have been unlinked (by a holder removing the resource) between our open and
      // our flock; a lock on an orphaned inode guards nothing, so start again on the new file.
      let samePath = false;
      try {
        samePath = fs.statSync(lockPath).ino === fs.fstatSync(fd).ino;
      } catch (err) {
        if (errnoCode(err) !== "ENOENT") {
          fs.closeSync(fd);
          throw err;
        }
      }
      if (!samePath) {
        fs.closeSync(fd);
        if (!createParent && !fs.existsSync(path.dirname(lockPath))) throw vanished(opts.resource, lockPath);
        continue;
      }
      const rec = holderRecord(opts.operation);
      fs.writeSync(fd, rec, 0, rec.length, 0);
      return new FileLock(lockPath, opts.mode, opts.operation, fd);
    }
  }

  /**
   * Release the lock (idempotent). With `unlink`, the lock file is removed while still held, so
   * waiters re-open a fresh file (used when the guarded resource itself was removed).
   */
  release(opts: { unlink?: boolean } = {}): void {
    const fd = this.fd;
    if (fd === undefined) return;
    this.fd = undefined;
    if (opts.unlink && this.mode === "exclusive") {
      try {
        fs.unlinkSync(this.path);
      } catch {
        // already gone
      }
    }
    try {
      fsExt.flockSync(fd, "un");
    } finally {
      fs.closeSync(fd);
    }
  }
}
