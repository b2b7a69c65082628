// One test per pair of operations in PBS's locking table (seeds/datastore-locking-docs.txt),
// named "<during>-<starting>-…". Cross-process pairs use real child processes.
import fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { type Child, ageAll, backup, chunks, entriesOf, startChild, tmpStore } from "./helpers/util.js";

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

const T = 1_763_800_000;
const HOUR = 3600;
const G = { type: "host" as const, id: "h1" };
const snap = (time: number) => ({ ...G, time });

describe("locking table: GC against writers", () => {
  it("gc-in-other-process-blocked-by-writer", async () => {
    const { store } = await setup();
    const c = await child({ root: store.root, action: "hold-backup", time: T });
    const err = await store.garbageCollection().catch((e) => e);
    expect(err).toMatchObject({ code: "ERR_LOCKED", holder: expect.stringMatching(/^backup \(pid \d+\)$/) });
    c.send("finish");
    expect(await c.next()).toMatchObject({ ok: true });
    const st = await store.garbageCollection({ atimeSafetySeconds: 0, graceSeconds: 0 });
    expect(st.indexFileCount).toBe(1);
    expect(st.diskChunks).toBe(1);
  });

  it("create-backup-in-other-process-blocked-by-gc", async () => {
    const { store } = await setup();
    const c = await child({ root: store.root, action: "hold-process-exclusive", operation: "garbage collection" });
    const err = await store.openBackup({ ...G, time: T, owner: "root@pam" }).catch((e) => e);
    expect(err).toMatchObject({ code: "ERR_LOCKED", holder: expect.stringMatching(/^garbage collection \(pid/) });
    // nothing was left behind: no snapshot folder, the group lock is free again
    expect(store.listSnapshotRefs(G)).toEqual([]);
    c.send();
    await c.next();
    const w = await store.openBackup({ ...G, time: T, owner: "root@pam" });
    await w.abort();
  });

  it("gc-sweep-keeps-chunks-touched-by-running-backup (oldest shared lock cutoff, in-process)", async () => {
    const { store } = await setup();
    const reused = chunks(2);
    await backup(store, { time: T }, reused);
    await store.forgetSnapshot(snap(T)); // now only the running backup will reference them
    ageAll(store, reused, 2 * HOUR);
    const w = await store.openBackup({ ...G, time: T + 1, owner: "root@pam" });
    await new Promise((r) => setTimeout(r, 20));
    for (const c of reused) await w.insertChunk(c.digest, c.blob); // touched: atime ≥ writer start
    const pendingOne = chunks(1)[0];
    await store.insertChunk(pendingOne.digest, pendingOne.blob);
    // between cutoff and oldest writer: pending
    const wStart = store.locker.oldestSharedLockTime()!;
    const p = store.layout.chunkPath(pendingOne.digest);
    fs.utimesSync(p, (wStart - 30_000) / 1000, fs.statSync(p).mtimeMs / 1000);
    const st = await store.garbageCollection({ atimeSafetySeconds: 0, graceSeconds: 60 });
    expect(st.oldestWriter).toBe(wStart);
    expect(st.cutoff).toBe(wStart - 60_000);
    expect(st.removedChunks).toBe(0);
    expect(st.pendingChunks).toBe(1);
    expect(st.diskChunks).toBe(2);
    await w.writeDynamicIndex("root.pxar.didx", entriesOf(reused));
    await w.finish();
    expect((await store.verify()).ok).toBe(true);
  });

  it("create-index-during-gc-mark: chunks protected by the cutoff, not by marks", async () => {
    const { store } = await setup();
    for (let i = 0; i < 40; i++) await backup(store, { type: "ct", id: `c${i}`, time: T }, chunks(1, 64));
    const w = await store.openBackup({ ...G, time: T, owner: "root@pam" });
    const mine = chunks(4);
    for (const c of mine) await w.insertChunk(c.digest, c.blob);
    let wroteDuringMark = false;
    let pending: Promise<unknown> | undefined;
    const st = await store.garbageCollection({
      atimeSafetySeconds: 0,
      graceSeconds: 0,
      onProgress: (p) => {
        if (p.phase === "mark" && p.done === 1) {
          pending = (async () => {
            await w.writeDynamicIndex("root.pxar.didx", entriesOf(mine));
            wroteDuringMark = store.processState.gcPhase === "mark";
            await w.finish();
          })();
        }
      },
    });
    await pending;
    expect(wroteDuringMark).toBe(true);
    expect(st.removedChunks).toBe(0);
    for (const c of mine) expect(store.statChunk(c.digest)).not.toBeNull();
    expect((await store.verify({ snapshots: [snap(T)] })).ok).toBe(true);
  });

  it("forget-during-gc-mark-keeps-reused-chunks (removed_during_gc hand-over)", async () => {
    const { store } = await setup();
    // 40 other snapshots so that the mark phase yields several times
    for (let i = 0; i < 40; i++) await backup(store, { type: "ct", id: `c${i}`, time: T }, chunks(1, 64));
    const victim = chunks(3);
    await backup(store, { type: "host", id: "zz", time: T }, victim); // listed last (vm, ct, host)
    const all = store.allSnapshotRefs();
    expect(all.at(-1)).toMatchObject({ type: "host", id: "zz" });
    ageAll(store, victim, 2 * HOUR);
    let forgottenDuringMark = false;
    let forgetting: Promise<void> | undefined;
    const st = await store.garbageCollection({
      atimeSafetySeconds: 0,
      graceSeconds: 0,
      onProgress: (p) => {
        if (p.phase === "mark" && p.done === 1) {
          forgetting = store.forgetSnapshot({ type: "host", id: "zz", time: T }).then(() => {
            forgottenDuringMark = store.processState.gcPhase === "mark";
          });
        }
      },
    });
    await forgetting;
    expect(forgottenDuringMark).toBe(true);
    expect(st.indexFileCount).toBe(40); // the victim's index was gone when GC got to it
    expect(st.warnings).toEqual([]);
    // its chunks were handed over and touched: a newer backup may still re-use them
    for (const c of victim) expect(store.statChunk(c.digest)).not.toBeNull();
    expect(st.removedChunks).toBe(0);
    // the next GC (nobody references them any more) removes them
    ageAll(store, victim, 2 * HOUR);
    const st2 = await store.garbageCollection({ atimeSafetySeconds: 0, graceSeconds: 0 });
    expect(st2.removedChunks).toBe(3);
  });

  it("forget-during-gc-sweep: marking is done, the forgotten chunks stay until the next run", async () => {
    const { store } = await setup();
    const list = chunks(2);
    await backup(store, { time: T }, list);
    ageAll(store, list, 2 * HOUR);
    let forgetting: Promise<void> | undefined;
    const st = await store.garbageCollection({
      atimeSafetySeconds: 0,
      graceSeconds: 0,
      onProgress: (p) => {
        if (p.phase === "sweep" && !forgetting) forgetting = store.forgetSnapshot(snap(T));
      },
    });
    await forgetting;
    expect(st.removedChunks).toBe(0);
    expect(store.listSnapshots(G)).toEqual([]);
  });

  it("forget-in-other-process-blocked-by-gc (forget takes the ProcessLocker shared)", async () => {
    const { store } = await setup();
    await backup(store, { time: T }, chunks(2));
    const c = await child({ root: store.root, action: "hold-process-exclusive", operation: "garbage collection" });
    const err = await store.forgetSnapshot(snap(T)).catch((e) => e);
    expect(err).toMatchObject({ code: "ERR_LOCKED", holder: expect.stringMatching(/^garbage collection/) });
    expect(store.listSnapshots(G)).toHaveLength(1);
    c.send();
    await c.next();
    await store.forgetSnapshot(snap(T));
    expect(store.listSnapshots(G)).toHaveLength(0);
  });
});

describe("locking table: backups, readers, forget, prune, verify", () => {
  it("second-backup-of-group-refused-while-first-runs (other process)", async () => {
    const { store } = await setup();
    const c = await child({ root: store.root, action: "hold-backup", time: T });
    const err = await store.openBackup({ ...G, time: T + 5, owner: "root@pam" }).catch((e) => e);
    expect(err).toMatchObject({ code: "ERR_LOCKED", holder: expect.stringMatching(/^backup \(pid \d+\)$/) });
    c.send("abort");
    await c.next();
    const w = await store.openBackup({ ...G, time: T + 5, owner: "root@pam" });
    await w.abort();
  });

  it("reader-blocks-forget (shared snapshot flock in another process)", async () => {
    const { store } = await setup();
    await backup(store, { time: T }, chunks(2));
    const c = await child({ root: store.root, action: "hold-snapshot", snapshot: snap(T), operation: "reader" });
    const err = await store.forgetSnapshot(snap(T)).catch((e) => e);
    expect(err).toMatchObject({ code: "ERR_LOCKED", holder: expect.stringMatching(/^reader \(pid/) });
    c.send();
    await c.next();
    await store.forgetSnapshot(snap(T));
  });

  it("reader-blocks-prune: prune warns about the locked snapshot and continues", async () => {
    const { store } = await setup();
    for (let i = 0; i < 4; i++) await backup(store, { time: T + i * 10 }, chunks(1));
    const c = await child({ root: store.root, action: "hold-snapshot", snapshot: snap(T + 10), operation: "reader" });
    const r = await store.prune(G, { keepLast: 1 });
    expect(r.removed.map((s) => s.time).sort()).toEqual([T, T + 20]);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain("locked by reader");
    expect(store.listSnapshots(G).map((s) => s.time)).toEqual([T + 10, T + 30]);
    c.send();
    await c.next();
  });

  it("prune-skips-running-and-base-snapshot", async () => {
    const { store } = await setup();
    for (let i = 0; i < 3; i++) await backup(store, { time: T + i * 10 }, chunks(1));
    const running = await store.openBackup({ ...G, time: T + 100, owner: "root@pam" });
    expect(running.base?.time).toBe(T + 20);
    // dry run: the running (unfinished, newest) snapshot and the base are kept
    const dry = await store.prune(G, { keepLast: 1 }, { dryRun: true });
    expect(dry.decisions.map((d) => [d.snapshot.time - T, d.keep, d.reason])).toEqual([
      [100, true, "unfinished-newest"],
      [20, true, "keep-last"],
      [10, false, "remove"],
      [0, false, "remove"],
    ]);
    expect(dry.removed).toEqual([]);
    const r = await store.prune(G, { keepLast: 1 });
    expect(r.removed.map((s) => s.time - T).sort()).toEqual([0, 10]);
    // the base cannot be removed while the backup builds on it, even when forgotten directly
    await expect(store.forgetSnapshot(snap(T + 20))).rejects.toMatchObject({ code: "ERR_LOCKED" });
    await expect(store.forgetSnapshot(snap(T + 100))).rejects.toMatchObject({ code: "ERR_LOCKED" });
    await running.writeBlob("a.blob", (await import("@cairn/format")).encodeBlob(Buffer.from("x")));
    await running.finish();
  });

  it("prune-during-forget: a snapshot that vanished under prune is a warning, not an error", async () => {
    const { store } = await setup();
    for (let i = 0; i < 3; i++) await backup(store, { time: T + i * 10 }, chunks(1));
    const decisionsBefore = store.listSnapshots(G);
    await store.forgetSnapshot(snap(T));
    // prune computed on the old listing (as if it listed just before the forget)
    const { pruneGroup } = await import("../src/prune.js");
    const orig = store.listSnapshots.bind(store);
    store.listSnapshots = () => decisionsBefore;
    const r = await pruneGroup(store, G, { keepLast: 1 });
    store.listSnapshots = orig;
    expect(r.warnings.join()).toContain("does not exist");
    expect(r.removed.map((s) => s.time)).toEqual([T + 10]);
  });

  it("verify-during-forget-detects-missing-folder", async () => {
    const { store } = await setup();
    await backup(store, { time: T }, chunks(30, 256));
    await backup(store, { time: T + 10 }, chunks(2));
    let forgetting: Promise<void> | undefined;
    const r = await store.verify({
      snapshots: [snap(T), snap(T + 10)],
      onProgress: (p) => {
        if (p.done === 0 && !forgetting) forgetting = store.forgetSnapshot(snap(T + 10));
      },
    });
    await forgetting;
    expect(r.snapshots.map((s) => s.outcome)).toEqual(["ok", "vanished"]);
    expect(r.snapshots[1].errors[0]).toContain("vanished");
  });

  it("verify-blocks-forget: verify holds a shared snapshot lock", async () => {
    const { store } = await setup();
    await backup(store, { time: T }, chunks(40, 256));
    const verifying = store.verify(); // takes the shared lock before its first await
    const err = await store.forgetSnapshot(snap(T)).catch((e) => e);
    expect(err).toMatchObject({ code: "ERR_LOCKED", holder: expect.stringMatching(/^verify/) });
    expect((await verifying).ok).toBe(true);
    await store.forgetSnapshot(snap(T));
  });

  it("verify-during-create-backup: the running snapshot is skipped (locked, no manifest)", async () => {
    const { store } = await setup();
    await backup(store, { time: T }, chunks(2));
    const w = await store.openBackup({ ...G, time: T + 10, owner: "root@pam" });
    const r = await store.verify();
    expect(r.snapshots.map((s) => s.outcome)).toEqual(["ok", "locked"]);
    await w.abort();
  });

  it("verify-during-verify: both hold shared locks and succeed", async () => {
    const { store } = await setup();
    await backup(store, { time: T }, chunks(20, 256));
    const [a, b] = await Promise.all([store.verify(), store.verify()]);
    expect(a.ok && b.ok).toBe(true);
  });

  it("manifest-update-serialized-by-manifest-lock", async () => {
    const { store } = await setup();
    await backup(store, { time: T }, chunks(1));
    const holder = await child({ root: store.root, action: "hold-manifest", snapshot: snap(T), operation: "verify" });
    const err = await store
      .updateManifest(snap(T), (m) => {
        m.unprotected = { ...m.unprotected, notes: "x" };
      }, { timeoutMs: 200 })
      .catch((e) => e);
    expect(err).toMatchObject({ code: "ERR_LOCKED", holder: expect.stringMatching(/^verify \(pid/) });
    expect(err.message).toContain("manifest of snapshot host/h1/2025-11-22T08:26:40Z");
    holder.send();
    await holder.next();
    // three writers (two processes and this one) append concurrently: no update is lost
    const a = await child({ root: store.root, action: "append-notes", snapshot: snap(T), tag: "a", count: 8, lockTimeoutMs: 20000 });
    const b = await child({ root: store.root, action: "append-notes", snapshot: snap(T), tag: "b", count: 8, lockTimeoutMs: 20000 });
    a.send();
    b.send();
    for (let i = 0; i < 8; i++) {
      await store.updateManifest(snap(T), (m) => {
        m.unprotected = { ...m.unprotected, notes: `${m.unprotected?.notes ?? ""}c${i};` };
      }, { timeoutMs: 20000 });
    }
    expect(await a.next()).toMatchObject({ ok: true });
    expect(await b.next()).toMatchObject({ ok: true });
    const notes = store.snapshotInfo(snap(T)).notes!.split(";").filter(Boolean);
    expect(notes).toHaveLength(24);
    for (const t of ["a", "b", "c"]) for (let i = 0; i < 8; i++) expect(notes).toContain(`${t}${i}`);
    // the manifest's signed part is untouched
    expect(store.readManifest(snap(T)).files).toHaveLength(1);
  });

  it("read-index-during-forget: an open index stays readable after forget", async () => {
    const { store } = await setup();
    const list = chunks(3);
    await backup(store, { time: T }, list);
    const file = store.layout.archivePath(snap(T), "root.pxar.didx");
    const fd = fs.openSync(file, "r");
    await store.forgetSnapshot(snap(T));
    expect(fs.existsSync(file)).toBe(false);
    const buf = Buffer.alloc(4096 + 3 * 40);
    expect(fs.readSync(fd, buf, 0, buf.length, 0)).toBe(buf.length);
    fs.closeSync(fd);
    expect(buf.subarray(4096 + 8, 4096 + 40).toString("hex")).toBe(list[0].digest);
  });

  it("forget-during-create-backup: the running backup's snapshot flock refuses forget", async () => {
    const { store } = await setup();
    const c = await child({ root: store.root, action: "hold-backup", time: T });
    const err = await store.forgetSnapshot(snap(T)).catch((e) => e);
    expect(err).toMatchObject({ code: "ERR_LOCKED", holder: expect.stringMatching(/^backup \(pid/) });
    c.send("finish");
    await c.next();
    await store.forgetSnapshot(snap(T));
  });

  it("forget-during-write-manifest: forget waits for the manifest lock, then removes", async () => {
    const { store } = await setup();
    await backup(store, { time: T }, chunks(1));
    const c = await child({ root: store.root, action: "hold-manifest", snapshot: snap(T), operation: "set notes" });
    setTimeout(() => c.send(), 300);
    const t0 = Date.now();
    await store.forgetSnapshot(snap(T));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
    expect(store.listSnapshots(G)).toEqual([]);
    // the other way round: updating the manifest of a forgotten snapshot is ERR_NOT_FOUND
    await expect(store.setSnapshotNotes(snap(T), "x")).rejects.toMatchObject({ code: "ERR_NOT_FOUND" });
  });

  it("forget-during-forget: one removes the snapshot, the other fails cleanly", async () => {
    const { store } = await setup();
    await backup(store, { time: T }, chunks(2));
    const results = await Promise.allSettled([store.forgetSnapshot(snap(T)), store.forgetSnapshot(snap(T))]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const failed = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(["ERR_LOCKED", "ERR_NOT_FOUND"]).toContain(failed.reason.code);
    expect(store.listSnapshots(G)).toEqual([]);
  });
});
