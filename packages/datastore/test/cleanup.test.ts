import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DataStore } from "../src/index.js";
import { type Child, backup, chunks, startChild, tmpStore } from "./helpers/util.js";

const cleanups: (() => Promise<void>)[] = [];
const children: Child[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) c.kill();
  for (const c of cleanups.splice(0)) await c();
});

const T = 1_763_800_000;

describe("start-up cleanup", () => {
  it("removes old temp chunks and unlocked unfinished snapshots; keeps what is in use", async () => {
    const { store, cleanup } = await tmpStore();
    cleanups.push(cleanup);
    const [c] = chunks(1);
    await store.insertChunk(c.digest, c.blob);
    const p = store.layout.chunkPath(c.digest);
    const oldTmp = `${p}.tmp_0123456789ab`;
    const youngTmp = `${p}.tmp_ba9876543210`;
    fs.writeFileSync(oldTmp, "x");
    fs.writeFileSync(youngTmp, "x");
    const old = Date.now() / 1000 - 7200;
    fs.utimesSync(oldTmp, old, old);

    await backup(store, { time: T }, chunks(1));
    const finishedDir = store.layout.snapshotPath({ type: "host", id: "h1", time: T });
    fs.writeFileSync(path.join(finishedDir, "x.didx.tmp"), "partial");
    fs.utimesSync(path.join(finishedDir, "x.didx.tmp"), old, old);
    // a crashed backup: folder without manifest and without lock holder
    const crashed = store.layout.snapshotPath({ type: "vm", id: "1", time: T });
    fs.mkdirSync(crashed, { recursive: true });
    fs.writeFileSync(path.join(crashed, "root.pxar.didx.tmp"), "partial");
    // a running backup in another process
    const child: Child = await startChild({ root: store.root, action: "hold-backup", id: "run", time: T });
    children.push(child);

    const r = await store.cleanup();
    expect(r.removedTempChunks).toBe(1);
    expect(r.removedTempFiles).toBe(1);
    expect(r.removedUnfinished).toEqual([{ ns: "", type: "vm", id: "1", time: T }]);
    expect(r.removedStaleLocks).toBe(0);
    expect(fs.existsSync(oldTmp)).toBe(false);
    expect(fs.existsSync(youngTmp)).toBe(true);
    expect(fs.existsSync(crashed)).toBe(false);
    expect(fs.existsSync(store.layout.snapshotPath({ type: "host", id: "run", time: T }))).toBe(true);
    child.send("finish");
    expect(await child.next()).toMatchObject({ ok: true });

    // a reader's lock file for a snapshot that does not exist (any more)
    const ghost = { type: "host" as const, id: "h1", time: T + 99 };
    (await store.lockSnapshot(ghost)).release();
    expect(fs.existsSync(store.layout.snapshotLockPath(ghost))).toBe(true);
    const reopened = await DataStore.open(store.root, { cleanup: { graceSeconds: 0 } });
    expect(fs.existsSync(store.layout.snapshotLockPath(ghost))).toBe(false);
    expect(fs.existsSync(store.layout.snapshotLockPath({ type: "host", id: "h1", time: T }))).toBe(true);
    expect(fs.existsSync(youngTmp)).toBe(false);
    expect((await reopened.verify()).ok).toBe(true);
  });
});
