import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { CryptConfig, encodeBlob } from "@cairn/format";
import { afterEach, describe, expect, it } from "vitest";
import { makeUpid, upidStartTime } from "../src/index.js";
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
const snap = (time: number) => ({ ...G, time });

function corrupt(file: string): void {
  const b = fs.readFileSync(file);
  b[b.length - 1] ^= 0xff;
  fs.writeFileSync(file, b);
}

describe("verify", () => {
  it("ok snapshots get verify_state ok with the job's upid; each chunk is read once per job", async () => {
    const { store } = await setup();
    const shared = chunks(3);
    await backup(store, { time: T }, shared);
    await backup(store, { time: T + 10 }, [...shared, ...chunks(2)]);
    const r = await store.verify({ upid: makeUpid("verify", "test") });
    expect(r.ok).toBe(true);
    expect(r.chunksChecked).toBe(5);
    expect(r.snapshots.map((s) => s.outcome)).toEqual(["ok", "ok"]);
    expect(store.listSnapshots(G).map((s) => s.verifyState)).toEqual([
      { state: "ok", upid: r.upid },
      { state: "ok", upid: r.upid },
    ]);
    expect(upidStartTime(r.upid)).toBeCloseTo(Date.now() / 1000, -1);
  });

  it("a corrupt chunk is renamed to <digest>.N.bad (first free N) and fails the snapshot", async () => {
    const { store } = await setup();
    const list = chunks(3);
    await backup(store, { time: T }, list);
    const p = store.layout.chunkPath(list[1].digest);
    corrupt(p);
    const r = await store.verify();
    expect(r.ok).toBe(false);
    expect(r.corruptChunks).toEqual([list[1].digest]);
    expect(r.snapshots[0].outcome).toBe("failed");
    expect(r.snapshots[0].errors.join()).toContain(list[1].digest);
    expect(fs.existsSync(p)).toBe(false);
    expect(fs.existsSync(`${p}.0.bad`)).toBe(true);
    expect(store.snapshotInfo(snap(T)).verifyState?.state).toBe("failed");
    // the client uploads it again (it is not "already there"); corrupt again → .1.bad
    expect(await store.insertChunk(list[1].digest, list[1].blob)).toMatchObject({ existed: false });
    corrupt(p);
    await store.verify();
    expect(fs.existsSync(`${p}.1.bad`)).toBe(true);
    // a backup after a failed verify does not build on the failed snapshot
    const w = await store.openBackup({ ...G, time: T + 10, owner: "root@pam" });
    expect(w.base).toBeUndefined();
    await w.abort();
  });

  it("a bad payload with a correct CRC is caught by the digest check", async () => {
    const { store } = await setup();
    const list = chunks(1);
    await backup(store, { time: T }, list);
    const other = encodeBlob(randomBytes(list[0].data.length));
    fs.writeFileSync(store.layout.chunkPath(list[0].digest), other);
    const r = await store.verify();
    expect(r.snapshots[0].errors.join()).toMatch(/digest/);
    expect(r.corruptChunks).toHaveLength(1);
  });

  it("a missing chunk fails every snapshot that references it", async () => {
    const { store } = await setup();
    const list = chunks(2);
    await backup(store, { time: T }, list);
    await backup(store, { time: T + 10 }, list);
    fs.rmSync(store.layout.chunkPath(list[0].digest));
    const r = await store.verify();
    expect(r.missingChunks).toEqual([list[0].digest]);
    expect(r.snapshots.map((s) => s.outcome)).toEqual(["failed", "failed"]);
    expect(r.chunksChecked).toBe(1);
  });

  it("encrypted chunks: CRC only (no key on the server)", async () => {
    const { store } = await setup();
    const crypt = new CryptConfig(randomBytes(32));
    const data = randomBytes(3000);
    const digest = crypt.computeDigest(data).toString("hex");
    const blob = encodeBlob(data, { crypt });
    const w = await store.openBackup({ ...G, time: T, owner: "root@pam" });
    await w.insertChunk(digest, blob);
    await w.writeDynamicIndex("root.pxar.didx", [{ end: 3000, digest: Buffer.from(digest, "hex") }], "encrypt");
    await w.finish();
    expect((await store.verify()).ok).toBe(true);
    corrupt(store.layout.chunkPath(digest));
    const r = await store.verify();
    expect(r.ok).toBe(false);
    expect(r.snapshots[0].errors.join()).toMatch(/CRC/);
  });

  it("checks the manifest's csum and size of index and blob files", async () => {
    const { store } = await setup();
    const list = chunks(2);
    const w = await store.openBackup({ ...G, time: T, owner: "root@pam" });
    for (const c of list) await w.insertChunk(c.digest, c.blob);
    await w.writeDynamicIndex("root.pxar.didx", entriesOf(list));
    await w.writeBlob("conf.blob", encodeBlob(Buffer.from("config")));
    await w.finish();
    const dir = store.layout.snapshotPath(snap(T));
    corrupt(path.join(dir, "conf.blob"));
    const idx = fs.readFileSync(path.join(dir, "root.pxar.didx"));
    idx.writeBigUInt64LE(5n, 4096); // first end offset changed: csum no longer matches
    fs.writeFileSync(path.join(dir, "root.pxar.didx"), idx);
    const r = await store.verify();
    const errors = r.snapshots[0].errors.join("\n");
    expect(errors).toContain("conf.blob: checksum does not match");
    expect(errors).toContain("root.pxar.didx: index checksum does not match");
  });

  it("an index it cannot read (a folder in its place) fails that snapshot; the others are still verified", async () => {
    const { store } = await setup();
    for (const time of [T, T + 1]) await backup(store, { time }, chunks(2, 300 + time - T));
    const bad = path.join(store.layout.snapshotPath(snap(T)), "root.pxar.didx");
    fs.rmSync(bad);
    fs.mkdirSync(bad);
    const r = await store.verify();
    expect(r.ok).toBe(false);
    expect(r.snapshots.map((x) => x.outcome)).toEqual(["failed", "ok"]);
    expect(r.snapshots[0].errors.join("\n")).toMatch(/root\.pxar\.didx: missing or unreadable \(EISDIR/);
  });

  it("reports each snapshot's result as soon as it is final, before the next one starts", async () => {
    const { store } = await setup();
    for (const time of [T, T + 1, T + 2]) await backup(store, { time }, chunks(1, 400 + time - T));
    const seen: string[] = [];
    const r = await store.verify({
      onProgress: (p) => seen.push(`start ${p.done}`),
      onSnapshot: (x) => seen.push(`${x.snapshot.time - T}: ${x.outcome}`),
    });
    expect(r.ok).toBe(true);
    expect(seen).toEqual(["start 0", "0: ok", "start 1", "1: ok", "start 2", "2: ok", "start 3"]);
  });

  it("skipVerifiedWithinDays and onlyUnverified skip snapshots", async () => {
    const { store } = await setup();
    await backup(store, { time: T }, chunks(1));
    await store.verify();
    await backup(store, { time: T + 10 }, chunks(1));
    const a = await store.verify({ onlyUnverified: true });
    expect(a.snapshots.map((s) => s.outcome)).toEqual(["skipped", "ok"]);
    const b = await store.verify({ skipVerifiedWithinDays: 30 });
    expect(b.snapshots.map((s) => s.outcome)).toEqual(["skipped", "skipped"]);
    const c = await store.verify({ skipVerifiedWithinDays: 0 });
    expect(c.snapshots.map((s) => s.outcome)).toEqual(["ok", "ok"]);
  });

  it("is abortable", async () => {
    const { store } = await setup();
    await backup(store, { time: T }, chunks(1));
    const ac = new AbortController();
    ac.abort();
    await expect(store.verify({ signal: ac.signal })).rejects.toMatchObject({ code: "ERR_ABORTED" });
  });
});
