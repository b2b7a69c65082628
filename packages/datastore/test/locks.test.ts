// ProcessLocker and FileLock: in-process counting, cross-process exclusion (real child processes).
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FileLock, ProcessLocker } from "../src/index.js";
import { type Child, startChild, tmpStore } from "./helpers/util.js";

const cleanups: (() => Promise<void>)[] = [];
const children: Child[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) c.kill();
  for (const c of cleanups.splice(0)) await c();
});

async function setup() {
  const t = await tmpStore();
  cleanups.push(t.cleanup);
  return t;
}

async function child(args: Record<string, unknown>): Promise<Child> {
  const c = await startChild(args);
  children.push(c);
  return c;
}

describe("ProcessLocker", () => {
  it("is one object per lock path in a process", async () => {
    const { store } = await setup();
    expect(ProcessLocker.forPath(path.join(store.root, ".lock"))).toBe(store.locker);
  });

  it("counts shared holders in-process and reports the oldest shared lock time", async () => {
    const { store } = await setup();
    const l = store.locker;
    expect(l.oldestSharedLockTime()).toBeUndefined();
    const a = await l.sharedLock({ operation: "backup a" });
    await new Promise((r) => setTimeout(r, 15));
    const b = await l.sharedLock({ operation: "backup b" });
    expect(l.sharedCount).toBe(2);
    expect(l.oldestSharedLockTime()).toBe(a.since);
    await a.release();
    expect(l.oldestSharedLockTime()).toBe(b.since);
    await a.release(); // idempotent
    expect(l.sharedCount).toBe(1);
    await b.release();
    expect(l.oldestSharedLockTime()).toBeUndefined();
  });

  it("exclusive and shared coexist inside one process (GC beside a running backup)", async () => {
    const { store } = await setup();
    const s = await store.locker.sharedLock({ operation: "backup" });
    const x = await store.locker.exclusiveLock({ operation: "garbage collection" });
    const s2 = await store.locker.sharedLock({ operation: "backup 2" });
    // a second exclusive holder in the same process is refused (the gc mutex's job)
    await expect(store.locker.exclusiveLock({ operation: "gc 2" })).rejects.toMatchObject({ code: "ERR_LOCKED" });
    await x.release();
    await s.release();
    await s2.release();
  });

  it("exclusive-refused-while-other-process-holds-shared, naming the holder", async () => {
    const { store } = await setup();
    const c = await child({ root: store.root, action: "hold-process-shared", operation: "backup" });
    const err = await store.locker.exclusiveLock({ operation: "garbage collection" }).catch((e) => e);
    expect(err.code).toBe("ERR_LOCKED");
    expect(err.holder).toMatch(/^backup \(pid \d+\)$/);
    expect(err.message).toContain("chunk store");
    c.send();
    expect(await c.next()).toMatchObject({ ok: true });
    const g = await store.locker.exclusiveLock({ operation: "garbage collection" });
    await g.release();
  });

  it("shared-refused-while-other-process-holds-exclusive; a timeout waits for the release", async () => {
    const { store } = await setup();
    const c = await child({ root: store.root, action: "hold-process-exclusive" });
    const err = await store.locker.sharedLock({ operation: "backup" }).catch((e) => e);
    expect(err).toMatchObject({ code: "ERR_LOCKED", holder: expect.stringMatching(/^garbage collection/) });
    setTimeout(() => c.send(), 300);
    const t0 = Date.now();
    const g = await store.locker.sharedLock({ operation: "backup", timeoutMs: 10_000 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
    await g.release();
  });

  it("upgrade to exclusive and back: shared remains held between processes after GC ends", async () => {
    const { store } = await setup();
    const s = await store.locker.sharedLock({ operation: "backup" });
    const x = await store.locker.exclusiveLock({ operation: "garbage collection" });
    // while exclusive: another process cannot even take shared
    const c1 = await child({ root: store.root, action: "try", op: "backup", time: 1000, id: "other" });
    c1.send();
    expect(await c1.next()).toMatchObject({ ok: false, code: "ERR_LOCKED" });
    await x.release();
    // back to F_RDLCK: others can share but not take exclusive
    const c2 = await child({ root: store.root, action: "try", op: "exclusive" });
    c2.send();
    expect(await c2.next()).toMatchObject({ ok: false, code: "ERR_LOCKED" });
    const c3 = await child({ root: store.root, action: "hold-process-shared" });
    c3.send();
    expect(await c3.next()).toMatchObject({ ok: true });
    await s.release();
    const c4 = await child({ root: store.root, action: "try", op: "exclusive" });
    c4.send();
    expect(await c4.next()).toMatchObject({ ok: true });
  });
});

describe("FileLock (flock)", () => {
  const opts = { operation: "backup", resource: "backup group host/x" };

  it("two exclusive opens in one process conflict; the error names the holder", async () => {
    const { store } = await setup();
    const p = path.join(store.layout.locksDir, "t1");
    const a = await FileLock.acquire(p, { ...opts, mode: "exclusive" });
    const err = await FileLock.acquire(p, { ...opts, mode: "exclusive", operation: "other" }).catch((e) => e);
    expect(err).toMatchObject({ code: "ERR_LOCKED", holder: `backup (pid ${process.pid})` });
    expect(err.message).toBe(`backup group host/x is locked by backup (pid ${process.pid})`);
    a.release();
    const b = await FileLock.acquire(p, { ...opts, mode: "exclusive" });
    b.release();
  });

  it("shared locks coexist and exclude exclusive; timeouts wait", async () => {
    const { store } = await setup();
    const p = path.join(store.layout.locksDir, "t2");
    const a = await FileLock.acquire(p, { ...opts, mode: "shared", operation: "reader" });
    const b = await FileLock.acquire(p, { ...opts, mode: "shared", operation: "verify" });
    await expect(FileLock.acquire(p, { ...opts, mode: "exclusive" })).rejects.toMatchObject({ code: "ERR_LOCKED" });
    setTimeout(() => {
      a.release();
      b.release();
    }, 200);
    const x = await FileLock.acquire(p, { ...opts, mode: "exclusive", timeoutMs: 5000 });
    expect(x.held).toBe(true);
    x.release();
    expect(x.held).toBe(false);
  });

  it("a lock file unlinked by its releasing holder is never shared by two holders", async () => {
    const { store } = await setup();
    const p = path.join(store.layout.locksDir, "t3");
    const a = await FileLock.acquire(p, { ...opts, mode: "exclusive" });
    const waiting = FileLock.acquire(p, { ...opts, mode: "exclusive", timeoutMs: 5000 });
    setTimeout(() => a.release({ unlink: true }), 100);
    const b = await waiting;
    // b holds the lock on the file now at p: a third opener is refused
    await expect(FileLock.acquire(p, { ...opts, mode: "exclusive" })).rejects.toMatchObject({ code: "ERR_LOCKED" });
    b.release();
  });

  it("conflicts across processes too (child holds a snapshot lock)", async () => {
    const { store } = await setup();
    const snapshot = { type: "host", id: "h1", time: 1000 };
    const c = await child({ root: store.root, action: "hold-snapshot", snapshot, mode: "exclusive", operation: "forget" });
    const err = await store.lockSnapshot(snapshot as never, { mode: "shared" }).catch((e) => e);
    expect(err).toMatchObject({ code: "ERR_LOCKED", holder: expect.stringMatching(/^forget \(pid \d+\)$/) });
    c.send();
    await c.next();
    const l = await store.lockSnapshot(snapshot as never, { mode: "shared", timeoutMs: 2000 });
    l.release();
  });
});
