// Garbage collection: mark and sweep rules, status counters, .bad handling, abort, gc mutex.
import fs from "node:fs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ageAll, ageChunk, backup, chunks, entriesOf, startChild, tmpStore } from "./helpers/util.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup() {
  const t = await tmpStore();
  cleanups.push(t.cleanup);
  return t;
}

const T = 1_763_800_000;
const HOUR = 3600;
const sum = (xs: { blob: Buffer }[]) => xs.reduce((a, c) => a + c.blob.length, 0);

describe("garbage collection", () => {
  it("stops before sweeping when an index cannot be read, and removes nothing", async () => {
    const { store } = await setup();
    const referenced = chunks(3, 600);
    const garbage = chunks(2, 500);
    await backup(store, { time: T }, referenced);
    for (const c of garbage) await store.insertChunk(c.digest, c.blob);
    ageAll(store, [...referenced, ...garbage], 2 * HOUR);
    const snap = { ns: "", type: "host" as const, id: "h1", time: T };
    const index = store.layout.archivePath(snap, "root.pxar.didx");
    const raw = fs.readFileSync(index);
    fs.writeFileSync(index, raw.subarray(0, raw.length - 7)); // no longer a whole number of entries

    await expect(store.garbageCollection({ atimeSafetySeconds: 0, graceSeconds: 60 })).rejects.toMatchObject({
      code: "ERR_BAD_INDEX",
      message: expect.stringContaining("root.pxar.didx"),
    });
    for (const c of [...referenced, ...garbage]) expect(store.statChunk(c.digest)).not.toBeNull();
    // the failed run released its locks: a later run over a mended store works
    fs.writeFileSync(index, raw);
    const st = await store.garbageCollection({ atimeSafetySeconds: 0, graceSeconds: 60 });
    expect(st.removedChunks).toBe(2);
  });

  it("keeps referenced chunks, removes old unreferenced ones, reports exact counters", async () => {
    const { store } = await setup();
    const referenced = chunks(4, 1000);
    const oldGarbage = chunks(3, 900);
    const youngGarbage = chunks(2, 800);
    const missing = chunks(1, 700)[0];
    await backup(store, { time: T }, referenced);
    // a second snapshot references one shared chunk and one chunk that is missing (only a .bad remains)
    const w = await store.openBackup({ type: "vm", id: "100", time: T, owner: "root@pam" });
    await w.insertChunk(referenced[0].digest, referenced[0].blob);
    await w.insertChunk(missing.digest, missing.blob);
    await w.writeDynamicIndex("disk.didx", entriesOf([referenced[0], missing]));
    await w.finish();
    const missingPath = store.layout.chunkPath(missing.digest);
    fs.renameSync(missingPath, `${missingPath}.0.bad`);
    // an unreferenced .bad file
    for (const c of [...oldGarbage, ...youngGarbage]) await store.insertChunk(c.digest, c.blob);
    const oldBad = `${store.layout.chunkPath(oldGarbage[0].digest)}.3.bad`;
    fs.writeFileSync(oldBad, oldGarbage[0].blob);

    ageAll(store, [...referenced, ...oldGarbage], 2 * HOUR);
    const old = Date.now() / 1000 - 2 * HOUR;
    fs.utimesSync(`${missingPath}.0.bad`, old, old);
    fs.utimesSync(oldBad, old, old);
    ageAll(store, youngGarbage, 30);

    const progress: string[] = [];
    const st = await store.garbageCollection({
      atimeSafetySeconds: 0,
      graceSeconds: 60,
      onProgress: (p) => progress.push(p.phase),
    });
    expect(st.cutoff).toBe(st.startTime - 60_000);
    expect(st.oldestWriter).toBe(st.startTime);
    expect(st.indexFileCount).toBe(2);
    expect(st.indexDataBytes).toBe(4000 + 1000 + 700);
    expect(st.removedChunks).toBe(3);
    expect(st.removedBad).toBe(1);
    expect(st.removedBytes).toBe(sum(oldGarbage) + oldGarbage[0].blob.length);
    expect(st.pendingChunks).toBe(2);
    expect(st.pendingBytes).toBe(sum(youngGarbage));
    expect(st.stillBad).toBe(1);
    expect(st.diskChunks).toBe(4);
    expect(st.diskBytes).toBe(sum(referenced));
    expect(st.dedupFactor).toBeCloseTo(5700 / sum(referenced), 10);
    expect(st.averageChunkSize).toBe(sum(referenced) / 4);
    expect(st.warnings).toHaveLength(1);
    expect(st.warnings[0]).toContain(missing.digest);
    expect(st.warnings[0]).toContain("disk.didx");
    expect(progress).toContain("mark");
    expect(progress.at(-1)).toBe("sweep");

    for (const c of referenced) expect(store.statChunk(c.digest)).not.toBeNull();
    for (const c of oldGarbage) expect(store.statChunk(c.digest)).toBeNull();
    for (const c of youngGarbage) expect(store.statChunk(c.digest)).not.toBeNull();
    expect(fs.existsSync(`${missingPath}.0.bad`)).toBe(true);
    expect(fs.existsSync(oldBad)).toBe(false);
    expect(store.lastGcStatus()).toEqual(st);
  });

  it("removes temp chunk files a killed writer left, once older than the cutoff and an hour", async () => {
    const { store } = await setup();
    const [c] = chunks(1, 600);
    const base = store.layout.chunkPath(c.digest);
    fs.mkdirSync(base.slice(0, base.lastIndexOf("/")), { recursive: true });
    const stale = `${base}.tmp_0123456789ab`;
    const fresh = `${base}.tmp_ba9876543210`;
    const other = `${base}.tmp_not-ours`;
    for (const f of [stale, fresh, other]) fs.writeFileSync(f, c.blob);
    const old = Date.now() / 1000 - 2 * HOUR;
    for (const f of [stale, other]) fs.utimesSync(f, old, old);
    const young = Date.now() / 1000 - 30 * 60;
    fs.utimesSync(fresh, young, young);
    // cutoff "now": the hour of grace alone keeps the fresh one (an insert may be writing it)
    const st = await store.garbageCollection({ atimeSafetySeconds: 0, graceSeconds: 0 });
    expect(st.removedTempChunks).toBe(1);
    expect(st.removedBytes).toBe(c.blob.length);
    expect(fs.existsSync(stale)).toBe(false);
    expect(fs.existsSync(fresh)).toBe(true);
    expect(fs.existsSync(other)).toBe(true);
    // the default cutoff (24 h + 5 min) keeps a 2-hour-old one too
    fs.writeFileSync(stale, c.blob);
    fs.utimesSync(stale, old, old);
    expect((await store.garbageCollection()).removedTempChunks).toBe(0);
    expect(fs.existsSync(stale)).toBe(true);
  });

  it("the default cutoff keeps everything younger than 24 h + 5 min", async () => {
    const { store } = await setup();
    const garbage = chunks(3);
    for (const c of garbage) await store.insertChunk(c.digest, c.blob);
    ageChunk(store, garbage[0].digest, 24 * HOUR + 6 * 60);
    ageChunk(store, garbage[1].digest, 24 * HOUR + 4 * 60);
    // young, but not from this very millisecond: GC's start time has millisecond resolution
    ageChunk(store, garbage[2].digest, 10);
    const st = await store.garbageCollection();
    expect(st.cutoff).toBe(st.startTime - 24 * 3600_000 - 300_000);
    expect(st.removedChunks).toBe(1);
    expect(st.pendingChunks).toBe(2);
    expect(store.statChunk(garbage[0].digest)).toBeNull();
  });

  it("indexes in namespaces are marked too", async () => {
    const { store } = await setup();
    store.createNamespace("a");
    store.createNamespace("a/b");
    const list = chunks(3);
    await backup(store, { ns: "a/b", time: T }, list);
    ageAll(store, list, 2 * HOUR);
    const st = await store.garbageCollection({ atimeSafetySeconds: 0, graceSeconds: 0 });
    expect(st.indexFileCount).toBe(1);
    expect(st.removedChunks).toBe(0);
    expect(st.diskChunks).toBe(3);
  });

  it("chunks of a backup still running (no index yet) survive: oldest writer is the cutoff", async () => {
    const { store } = await setup();
    const oldKnown = chunks(1)[0];
    const garbage = chunks(1)[0];
    await store.insertChunk(oldKnown.digest, oldKnown.blob);
    await store.insertChunk(garbage.digest, garbage.blob);
    ageAll(store, [oldKnown, garbage], 2 * HOUR);
    const w = await store.openBackup({ type: "host", id: "run", time: T, owner: "root@pam" });
    const fresh = chunks(3);
    for (const c of fresh) await w.insertChunk(c.digest, c.blob);
    await w.insertChunk(oldKnown.digest, oldKnown.blob); // re-upload of an existing chunk touches it
    const st = await store.garbageCollection({ atimeSafetySeconds: 0, graceSeconds: 0 });
    expect(st.oldestWriter).toBeLessThan(st.startTime);
    expect(st.cutoff).toBe(st.oldestWriter);
    expect(st.removedChunks).toBe(1);
    expect(store.statChunk(garbage.digest)).toBeNull();
    for (const c of [...fresh, oldKnown]) expect(store.statChunk(c.digest)).not.toBeNull();
    await w.writeDynamicIndex("a.didx", entriesOf([...fresh, oldKnown]));
    await w.finish();
    expect((await store.verify()).ok).toBe(true);
  });

  it("is abortable (ERR_ABORTED) and releases its locks", async () => {
    const { store } = await setup();
    await backup(store, { time: T }, chunks(2));
    const ac = new AbortController();
    const err = await store
      .garbageCollection({ signal: ac.signal, onProgress: (p) => p.phase === "sweep" && p.done > 1000 && ac.abort() })
      .catch((e) => e);
    expect(err).toMatchObject({ code: "ERR_ABORTED" });
    expect(store.processState.gcRunning).toBe(false);
    expect(store.locker.exclusive).toBe(false);
    const c = await startChild({ root: store.root, action: "try", op: "exclusive" });
    c.send();
    expect(await c.next()).toMatchObject({ ok: true });
    const pre = new AbortController();
    pre.abort();
    await expect(store.garbageCollection({ signal: pre.signal })).rejects.toMatchObject({ code: "ERR_ABORTED" });
  });

  it("refuses to run when the file system does not keep explicit atime updates (ERR_ATIME)", async () => {
    const { store } = await setup();
    const spy = vi.spyOn(fs, "lutimesSync").mockImplementation(() => {}); // a store that drops atime updates
    try {
      const err = await store.garbageCollection().catch((e) => e);
      expect(err).toMatchObject({ code: "ERR_ATIME" });
      expect(err.message).toContain("does not keep explicit atime updates");
    } finally {
      spy.mockRestore();
    }
    expect(store.locker.exclusive).toBe(false);
    await store.garbageCollection();
  });

  it("one GC at a time per process (gc mutex)", async () => {
    const { store } = await setup();
    const a = store.garbageCollection();
    await expect(store.garbageCollection()).rejects.toMatchObject({ code: "ERR_LOCKED", holder: "gc" });
    await a;
  });

  it("many indexes sharing chunks: counted per index in data bytes, once on disk (dedup factor)", async () => {
    const { store } = await setup();
    const shared = chunks(2);
    for (let i = 0; i < 5; i++) await backup(store, { time: T + i }, shared);
    ageAll(store, shared, 2 * HOUR);
    const st = await store.garbageCollection({ atimeSafetySeconds: 0, graceSeconds: 0 });
    expect(st.indexFileCount).toBe(5);
    expect(st.diskChunks).toBe(2);
    expect(st.dedupFactor).toBeCloseTo((5 * 1024) / (shared[0].blob.length * 2), 5);
  });
});
