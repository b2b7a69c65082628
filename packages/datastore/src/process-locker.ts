// ProcessLocker: the chunk-store-wide lock on `<datastore>/.lock` (fcntl record locks).
// Shared while a backup writer inserts chunks / creates indexes; exclusive for GC. Exclusive
// excludes shared only *between* processes; inside a process the locker counts shared holders with
// the time each was taken, so GC can use the oldest one as its sweep cutoff.
// Spec: datastore.md "Locks" (ProcessLocker) and the locking table rows "create index file",
// "GC mark", "GC sweep".
//
// fcntl locks belong to the (process, inode) pair and *any* close() of *any* fd on the file drops
// them. So there is exactly one fd per process for a given `.lock` (a per-path singleton), never
// closed while a lock is held, and the lock type is switched on that fd: F_RDLCK ⇄ F_WRLCK.
// fs-ext's fcntlSync passes its argument as a raw int (F_SETLK then fails with EFAULT), so the
// async fcntl, which builds the `struct flock`, is used; state changes are serialized by a mutex.

import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import fsExt from "fs-ext";
import { errnoCode } from "./errors.js";
import { holderRecord, lockedError } from "./flock.js";
import { Mutex } from "./internal/mutex.js";

const { F_RDLCK, F_WRLCK, F_UNLCK } = fsExt.constants as unknown as Record<string, number>;

export interface ProcessLockOptions {
  operation: string;
  /** Wait up to this long for another process to release a conflicting lock; 0 = fail at once. */
  timeoutMs?: number;
  pollMs?: number;
}

export interface ProcessLockGuard {
  readonly mode: "shared" | "exclusive";
  /** When the lock was taken (epoch ms). */
  readonly since: number;
  /** Release (idempotent); resolves once the fcntl lock type matches what is still held. */
  release(): Promise<void>;
}

type FcntlState = "none" | "shared" | "exclusive";

export class ProcessLocker {
  private static readonly instances = new Map<string, ProcessLocker>();

  /** The one locker of this process for `lockPath`. */
  static forPath(lockPath: string): ProcessLocker {
    const key = path.resolve(lockPath);
    let p = ProcessLocker.instances.get(key);
    if (!p) {
      p = new ProcessLocker(key);
      ProcessLocker.instances.set(key, p);
    }
    return p;
  }

  private fd: number | undefined;
  private state: FcntlState = "none";
  private readonly shared = new Map<number, { since: number; operation: string }>();
  private exclusiveHeld = false;
  private nextId = 1;
  private readonly mutex = new Mutex();

  private constructor(readonly path: string) {}

  private ensureFd(): number {
    if (this.fd === undefined) {
      this.fd = fs.openSync(this.path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    }
    return this.fd;
  }

  private setLock(type: number): Promise<boolean> {
    const fd = this.ensureFd();
    return new Promise((resolve, reject) => {
      fsExt.fcntl(fd, "setlk", type, (err) => {
        if (!err) resolve(true);
        else {
          const c = errnoCode(err);
          if (c === "EAGAIN" || c === "EACCES") resolve(false);
          else reject(err);
        }
      });
    });
  }

  /** Who holds the lock in another process, as recorded in the file (read through our own fd). */
  private readHolder(): string | undefined {
    try {
      const buf = Buffer.alloc(512);
      const n = fs.readSync(this.ensureFd(), buf, 0, buf.length, 0);
      const rec = JSON.parse(buf.subarray(0, n).toString("utf8").trim()) as { operation?: string; pid?: number };
      return rec.operation ? `${rec.operation} (pid ${rec.pid})` : undefined;
    } catch {
      return undefined;
    }
  }

  private writeHolder(operation: string): void {
    const rec = holderRecord(operation);
    try {
      fs.writeSync(this.ensureFd(), rec, 0, rec.length, 0);
    } catch {
      // the record is only a courtesy for error messages
    }
  }

  private async acquire(mode: "shared" | "exclusive", opts: ProcessLockOptions): Promise<ProcessLockGuard> {
    const deadline = Date.now() + (opts.timeoutMs ?? 0);
    for (;;) {
      const g = await (mode === "shared" ? this.trySharedLock(opts.operation) : this.tryExclusiveLock(opts.operation));
      if (g) return g;
      if (Date.now() >= deadline) {
        const holder = mode === "exclusive" && this.exclusiveHeld ? `${opts.operation} in this process` : this.readHolder();
        throw lockedError(`datastore chunk store (${this.path})`, holder, this.path);
      }
      await sleep(Math.min(opts.pollMs ?? 25, Math.max(1, deadline - Date.now())));
    }
  }

  sharedLock(opts: ProcessLockOptions): Promise<ProcessLockGuard> {
    return this.acquire("shared", opts);
  }

  exclusiveLock(opts: ProcessLockOptions): Promise<ProcessLockGuard> {
    return this.acquire("exclusive", opts);
  }

  /** Shared lock: free within the process; needs F_RDLCK only when this process holds nothing. */
  trySharedLock(operation: string): Promise<ProcessLockGuard | undefined> {
    return this.mutex.run(async () => {
      if (this.state === "none") {
        if (!(await this.setLock(F_RDLCK))) return undefined;
        this.state = "shared";
        this.writeHolder(operation);
      }
      return this.addShared(operation);
    });
  }

  private addShared(operation: string): ProcessLockGuard {
    const id = this.nextId++;
    const since = Date.now();
    this.shared.set(id, { since, operation });
    let released = false;
    return {
      mode: "shared",
      since,
      release: async () => {
        if (released) return;
        released = true;
        this.shared.delete(id);
        await this.settle();
      },
    };
  }

  /** Exclusive lock (GC): upgrades this process's F_RDLCK, fails if another process holds any. */
  tryExclusiveLock(operation: string): Promise<ProcessLockGuard | undefined> {
    return this.mutex.run(async () => {
      if (this.exclusiveHeld) return undefined;
      if (!(await this.setLock(F_WRLCK))) return undefined;
      this.state = "exclusive";
      this.exclusiveHeld = true;
      this.writeHolder(operation);
      return this.exclusiveGuard();
    });
  }

  private exclusiveGuard(): ProcessLockGuard {
    const since = Date.now();
    let released = false;
    return {
      mode: "exclusive",
      since,
      release: async () => {
        if (released) return;
        released = true;
        this.exclusiveHeld = false;
        await this.settle();
      },
    };
  }

  /** Bring the fcntl lock type in line with what is still held in this process. */
  private settle(): Promise<void> {
    return this.mutex.run(async () => {
      if (this.exclusiveHeld) return;
      if (this.shared.size > 0) {
        if (this.state !== "shared") {
          // Downgrading our own write lock to a read lock never conflicts.
          await this.setLock(F_RDLCK);
          this.state = "shared";
        }
      } else if (this.state !== "none") {
        await this.setLock(F_UNLCK);
        this.state = "none";
      }
    });
  }

  /** Start time (epoch ms) of the oldest shared holder in this process, if any. */
  oldestSharedLockTime(): number | undefined {
    let oldest: number | undefined;
    for (const h of this.shared.values()) if (oldest === undefined || h.since < oldest) oldest = h.since;
    return oldest;
  }

  get sharedCount(): number {
    return this.shared.size;
  }

  get exclusive(): boolean {
    return this.exclusiveHeld;
  }
}
