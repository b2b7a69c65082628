import fs from "node:fs";
import path from "node:path";
import { encodeBlob } from "@cairn/format";
import { afterEach, describe, expect, it } from "vitest";
import { type ManifestData, encodeManifest } from "../src/index.js";
import { backup, chunks, entriesOf, tmpStore } from "./helpers/util.js";

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
const G = { type: "host" as const, id: "h1" };

describe("backup writer", () => {
  it("writes chunks, an index and a blob; the manifest comes last and listing shows sizes", async () => {
    const { store, dir } = await setup();
    const list = chunks(5, 700);
    const w = await store.openBackup({ ...G, time: T, owner: "root@pam" });
    const snapDir = path.join(dir, "host/h1/2025-11-22T08:26:40Z");
    expect(w.path).toBe(snapDir);
    expect(store.listSnapshots(G)[0]).toMatchObject({ finished: false, size: 0 });
    for (const c of list) await w.insertChunk(c.digest, c.blob);
    const idx = await w.writeDynamicIndex("root.pxar.didx", entriesOf(list));
    expect(idx).toMatchObject({ size: 3500, chunkCount: 5 });
    const conf = encodeBlob(Buffer.from("config"));
    await w.writeBlob("config.blob", conf);
    expect(fs.existsSync(path.join(snapDir, "index.json.blob"))).toBe(false);
    const m = await w.finish();
    expect(m.files.map((f) => f.filename).sort()).toEqual(["config.blob", "root.pxar.didx"]);
    expect(fs.existsSync(path.join(snapDir, "index.json.blob"))).toBe(true);
    expect(w.state).toBe("finished");
    const [info] = store.listSnapshots(G);
    expect(info).toMatchObject({ finished: true, size: 3500 + conf.length, protected: false, verifyState: undefined });
    const [g] = store.listGroups();
    expect(g).toMatchObject({ type: "host", id: "h1", owner: "root@pam", snapshotCount: 1, lastBackup: T });
    expect(store.readManifest({ ...G, time: T })["backup-id"]).toBe("h1");
  });

  it("refuses further use after finish or abort (ERR_WRITER_CLOSED); abort removes the folder", async () => {
    const { store } = await setup();
    const w = await store.openBackup({ ...G, time: T, owner: "root@pam" });
    const [c] = chunks(1);
    await w.insertChunk(c.digest, c.blob);
    await w.abort();
    expect(fs.existsSync(w.path)).toBe(false);
    expect(w.state).toBe("aborted");
    await expect(w.insertChunk(c.digest, c.blob)).rejects.toMatchObject({ code: "ERR_WRITER_CLOSED" });
    await expect(w.finish()).rejects.toMatchObject({ code: "ERR_WRITER_CLOSED" });
    await w.abort(); // no-op
    // the locks are gone: the group can back up again
    await backup(store, { time: T + 1 }, chunks(1));
    const w2 = await store.openBackup({ ...G, time: T + 2, owner: "root@pam" });
    await w2.writeBlob("a.blob", encodeBlob(Buffer.from("x")));
    await w2.finish();
    await expect(w2.writeBlob("b.blob", encodeBlob(Buffer.from("x")))).rejects.toMatchObject({ code: "ERR_WRITER_CLOSED" });
    await expect(w2.abort()).rejects.toMatchObject({ code: "ERR_WRITER_CLOSED" });
  });

  it("second-backup-of-group-refused-while-first-runs (in-process); other groups run in parallel", async () => {
    const { store } = await setup();
    const w = await store.openBackup({ ...G, time: T, owner: "root@pam" });
    const err = await store.openBackup({ ...G, time: T + 10, owner: "root@pam" }).catch((e) => e);
    expect(err).toMatchObject({ code: "ERR_LOCKED", holder: `backup (pid ${process.pid})` });
    expect(err.message).toContain("backup group host/h1");
    const other = await store.openBackup({ type: "host", id: "h2", time: T, owner: "root@pam" });
    await other.abort();
    await w.abort();
  });

  it("checks the owner (ERR_NOT_OWNER) and the time order", async () => {
    const { store } = await setup();
    await backup(store, { time: T }, chunks(1));
    await expect(store.openBackup({ ...G, time: T + 5, owner: "mallory@pam" })).rejects.toMatchObject({ code: "ERR_NOT_OWNER" });
    await expect(store.openBackup({ ...G, time: T, owner: "root@pam" })).rejects.toMatchObject({ code: "ERR_EXISTS" });
    await expect(store.openBackup({ ...G, time: T - 5, owner: "root@pam" })).rejects.toMatchObject({ code: "ERR_TIME_ORDER" });
    // the failed attempts released their locks
    const w = await store.openBackup({ ...G, time: T + 5, owner: "root@pam" });
    await w.abort();
  });

  it("finish refuses an empty manifest, missing files and a manifest of another snapshot", async () => {
    const { store } = await setup();
    const w = await store.openBackup({ ...G, time: T, owner: "root@pam" });
    await expect(w.finish()).rejects.toMatchObject({ code: "ERR_BAD_MANIFEST" });
    const m: ManifestData = {
      "backup-type": "host",
      "backup-id": "h1",
      "backup-time": T,
      files: [{ filename: "x.didx", "crypt-mode": "none", size: 1, csum: "00" }],
      unprotected: {},
    };
    await expect(w.finish(m)).rejects.toMatchObject({ code: "ERR_BAD_MANIFEST" });
    await expect(w.finish({ ...m, "backup-id": "h2" })).rejects.toMatchObject({ code: "ERR_BAD_MANIFEST" });
    await expect(w.writeBlob("../x.blob", encodeBlob(Buffer.from("x")))).rejects.toMatchObject({ code: "ERR_BAD_NAME" });
    await expect(w.writeBlob("index.json.blob", encodeBlob(Buffer.from("x")))).rejects.toMatchObject({ code: "ERR_BAD_NAME" });
    // an encoded manifest blob from the client is written as is
    const list = chunks(2);
    for (const c of list) await w.insertChunk(c.digest, c.blob);
    const idx = await w.writeDynamicIndex("x.didx", entriesOf(list));
    const raw = encodeManifest({ ...m, files: [{ filename: "x.didx", "crypt-mode": "none", size: idx.size, csum: idx.csum.toString("hex") }] });
    await w.finish(raw);
    expect(fs.readFileSync(path.join(w.path, "index.json.blob"))).toEqual(raw);
  });

  it("base snapshot: newest finished not-failed one, shared-locked, its index digests known", async () => {
    const { store } = await setup();
    const a = chunks(3);
    const b = chunks(3);
    await backup(store, { time: T }, a);
    await backup(store, { time: T + 10 }, b);
    await store.setVerifyState({ ...G, time: T + 10 }, { state: "failed", upid: "UPID:x" });
    const w = await store.openBackup({ ...G, time: T + 20, owner: "root@pam" });
    expect(w.base?.time).toBe(T);
    expect(w.baseIndexDigests("root.pxar.didx")).toEqual(a.map((c) => c.digest));
    expect(w.baseIndexDigests("other.didx")).toBeUndefined();
    expect(w.touchKnownChunk(a[0].digest)).toBe(true);
    expect(w.touchKnownChunk("f".repeat(64))).toBe(false);
    // forget-of-base-snapshot-refused-during-backup
    const err = await store.forgetSnapshot({ ...G, time: T }).catch((e) => e);
    expect(err).toMatchObject({ code: "ERR_LOCKED" });
    expect(err.holder).toMatch(/^backup \(base snapshot\)/);
    // forget-of-running-backup-snapshot-refused
    await expect(store.forgetSnapshot({ ...G, time: T + 20 })).rejects.toMatchObject({ code: "ERR_LOCKED" });
    await w.abort();
    await store.forgetSnapshot({ ...G, time: T });
  });

  it("finish refuses when the base snapshot vanished anyway (ERR_BASE_VANISHED)", async () => {
    const { store } = await setup();
    await backup(store, { time: T }, chunks(2));
    const w = await store.openBackup({ ...G, time: T + 10, owner: "root@pam" });
    fs.rmSync(store.layout.snapshotPath({ ...G, time: T }), { recursive: true });
    await w.writeBlob("a.blob", encodeBlob(Buffer.from("x")));
    await expect(w.finish()).rejects.toMatchObject({ code: "ERR_BASE_VANISHED" });
    expect(w.state).toBe("open");
    await w.abort();
  });

  it("fixed indexes work too", async () => {
    const { store } = await setup();
    const list = chunks(3, 1024);
    const w = await store.openBackup({ type: "vm", id: "100", time: T, owner: "root@pam" });
    for (const c of list) await w.insertChunk(c.digest, c.blob);
    const r = await w.writeFixedIndex("drive-scsi0.img.fidx", 3000, 1024, list.map((c) => Buffer.from(c.digest, "hex")));
    expect(r).toMatchObject({ size: 3000, chunkCount: 3 });
    await w.finish();
    const v = await store.verify();
    expect(v.snapshots[0].outcome).toBe("failed"); // the last chunk holds 1024 bytes, the index says 952
    expect(v.snapshots[0].errors.join()).toContain("the index says 952");
  });
});
