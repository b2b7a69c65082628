import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BackupReader, BackupWriter } from "@cairn/protocol";
import { type TestServer, makeChunk, rawSession, startTestServer } from "./helpers.js";

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("session lifecycle", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ workers: 2 });
  });
  afterAll(async () => {
    await t.close();
  });
  const opts = (id: string, time = 1_700_000_000) => ({
    ...t.conn,
    store: "store1",
    auth: t.admin,
    backupType: "host" as const,
    backupId: id,
    backupTime: time,
  });

  it("a connection dropped mid-backup removes the unfinished snapshot and frees the group", async () => {
    const w = await BackupWriter.start(opts("dropped"));
    const h = await w.createDynamicIndex("a.didx");
    const c = makeChunk(4000);
    await h.addChunk(c.digest, 4000, c.blob);
    const snapDir = path.join(t.storePath, "host", "dropped", "2023-11-14T22:13:20Z");
    expect(fs.existsSync(snapDir)).toBe(true);
    w.terminate();
    await until(() => !fs.existsSync(snapDir));
    // the group lock is released (just after the folder goes): a new backup can start
    let w2: BackupWriter | undefined;
    const end = Date.now() + 5000;
    while (!w2) {
      w2 = await BackupWriter.start(opts("dropped", 1_700_000_001)).catch((err: { code?: string }) => {
        if (err.code !== "ERR_BACKUP_RUNNING" || Date.now() > end) throw err;
        return undefined;
      });
      if (!w2) await new Promise((r) => setTimeout(r, 20));
    }
    await w2.abort();
    await until(() => !fs.existsSync(path.join(t.storePath, "host", "dropped", "2023-11-14T22:13:21Z")));
    const tasks = await t.client(t.admin).listTasks({ limit: 100 });
    expect(tasks.some((x) => x.type === "backup" && x.worker.includes("dropped") && x.state === "error")).toBe(true);
  });

  it("an abort while finish is on its way waits for the answer: the snapshot the server made is reported as made", async () => {
    const w = await BackupWriter.start(opts("abort-at-finish"));
    const h = await w.createDynamicIndex("a.didx");
    const c = makeChunk(4000);
    await h.addChunk(c.digest, 4000, c.blob);
    await h.close();
    // Ctrl-C lands just after the finish call was sent
    const call = w.call.bind(w);
    let aborting: Promise<void> | undefined;
    w.call = (op, params, body) => {
      const p = call(op, params, body);
      if (op === "finish") aborting = Promise.resolve().then(() => w.abort());
      return p;
    };
    await w.finish();
    await aborting;
    expect(w.finished).toBe(true);
    const snapDir = path.join(t.storePath, "host", "abort-at-finish", "2023-11-14T22:13:20Z");
    expect(fs.existsSync(path.join(snapDir, "index.json.blob"))).toBe(true);
    const snaps = await t.client(t.admin).listSnapshots("store1", { "backup-id": "abort-at-finish" });
    expect(snaps.map((x) => x.finished)).toEqual([true]);
  });

  it("a client that sends nothing, not even a pong, is cut off after the session timeout and its group is free again", async () => {
    // the timeout is per process: this server's 800 ms holds for the other sessions of this file
    // too, whose clients answer pings by themselves
    const quick = await startTestServer({ sessionTimeoutMs: 800 });
    try {
      const q = { store: "store1", "backup-type": "host", "backup-id": "silent", "backup-time": 1_700_000_000 };
      const ws = await rawSession(quick, "backup", q, quick.admin, { autoPong: false });
      const closed = new Promise<number>((r) => ws.once("close", (code) => r(code)));
      const snapDir = path.join(quick.storePath, "host", "silent", "2023-11-14T22:13:20Z");
      expect(fs.existsSync(snapDir)).toBe(true);
      await expect(BackupWriter.start({ ...quick.conn, store: "store1", auth: quick.admin, backupType: "host", backupId: "silent", backupTime: 1_700_000_001 })).rejects.toMatchObject({ code: "ERR_BACKUP_RUNNING" });
      expect(await closed).toBe(1006);
      await until(() => !fs.existsSync(snapDir));
      let w: BackupWriter | undefined;
      const end = Date.now() + 5000;
      while (!w) {
        w = await BackupWriter.start({ ...quick.conn, store: "store1", auth: quick.admin, backupType: "host", backupId: "silent", backupTime: 1_700_000_001 }).catch((err: { code?: string }) => {
          if (err.code !== "ERR_BACKUP_RUNNING" || Date.now() > end) throw err;
          return undefined;
        });
        if (!w) await new Promise((r) => setTimeout(r, 20));
      }
      // a client that answers pings but is idle for longer than the timeout is kept
      await new Promise((r) => setTimeout(r, 2000));
      const h = await w.createDynamicIndex("a.didx");
      const c = makeChunk(4000);
      await h.addChunk(c.digest, 4000, c.blob);
      await h.close();
      await w.finish();
    } finally {
      await quick.close();
    }
  });

  it("refuses a fixed index of 0 bytes (PBS cannot read one with no entries), and the session goes on", async () => {
    const w = await BackupWriter.start(opts("empty-image"));
    await expect(w.createFixedIndex("e.img.fidx", 0)).rejects.toMatchObject({ code: "ERR_BAD_REQUEST", message: expect.stringMatching(/e\.img\.fidx: size must be at least 1 byte/) });
    // the name is free again, and a 1-byte image is fine
    const h = await w.createFixedIndex("e.img.fidx", 1);
    const c = makeChunk(1);
    await h.addChunk(c.digest, 1, c.blob);
    await h.close();
    await w.finish();
    const fidx = fs.readFileSync(path.join(t.storePath, "host", "empty-image", "2023-11-14T22:13:20Z", "e.img.fidx"));
    expect(fidx.length).toBe(4096 + 32);
  });

  it("runs backups of two groups concurrently", async () => {
    const data = (n: number) => Array.from({ length: 30 }, () => makeChunk(8000 + n));
    const groups = ["par-a", "par-b"];
    const sets = groups.map((_, i) => data(i));
    const writers = await Promise.all(groups.map((g) => BackupWriter.start(opts(g))));
    await Promise.all(
      writers.map(async (w, i) => {
        const h = await w.createDynamicIndex("root.didx");
        for (const c of sets[i]) await h.addChunk(c.digest, c.data.length, c.blob);
        await h.close();
        await w.finish();
      }),
    );
    for (let i = 0; i < groups.length; i++) {
      const r = await BackupReader.open(opts(groups[i]));
      const parts: Buffer[] = [];
      for await (const b of r.readArchive("root.didx")) parts.push(b);
      expect(Buffer.concat(parts).equals(Buffer.concat(sets[i].map((c) => c.data)))).toBe(true);
      await r.close();
    }
  });

  it("GC, prune and verify run through the API while a backup is running", async () => {
    const api = t.client(t.admin);
    // two finished snapshots of one group
    for (const time of [1_700_000_000, 1_700_000_100]) {
      const w = await BackupWriter.start(opts("maint", time));
      const h = await w.createDynamicIndex("a.didx");
      const c = makeChunk(2000);
      await h.addChunk(c.digest, 2000, c.blob);
      await h.close();
      await w.finish();
    }
    // a running backup of another group with an uploaded but not yet indexed chunk
    const running = await BackupWriter.start(opts("running"));
    const h = await running.createDynamicIndex("a.didx");
    const c = makeChunk(3000);
    await h.uploadChunk(c.digest, 3000, c.blob);

    const gc = await api.startGc("store1");
    const gcDone = await api.waitTask(gc);
    expect(gcDone.state).toBe("ok");
    const status = await api.gcStatus("store1");
    expect(status?.["index-file-count"]).toBeGreaterThan(0);
    expect((await api.taskLog(gc)).some((l) => l.t.includes("removed"))).toBe(true);

    const dry = await api.prune("store1", { "backup-type": "host", "backup-id": "maint" }, { "keep-last": 1 }, true);
    expect(dry.filter((d) => d.keep).length).toBe(1);
    expect((await api.listSnapshots("store1", { "backup-id": "maint" })).length).toBe(2);
    const pruned = await api.prune("store1", { "backup-type": "host", "backup-id": "maint" }, { "keep-last": 1 });
    expect(pruned.find((d) => !d.keep)?.["backup-time"]).toBe(1_700_000_000);
    expect((await api.listSnapshots("store1", { "backup-id": "maint" })).length).toBe(1);

    const v = await api.verify("store1", { "backup-type": "host", "backup-id": "maint" });
    expect((await api.waitTask(v)).state).toBe("ok");
    const snaps = await api.listSnapshots("store1", { "backup-id": "maint" });
    expect(snaps[0].verification?.state).toBe("ok");

    // the running backup is unaffected: its chunk survived GC and it can finish
    await h.append(c.digest, 3000);
    await h.close();
    await running.finish();
    const r = await BackupReader.open(opts("running"));
    const parts: Buffer[] = [];
    for await (const b of r.readArchive("a.didx")) parts.push(b);
    expect(Buffer.concat(parts).equals(c.data)).toBe(true);
    await r.close();
  });

  it("manages snapshots: protected, notes, forget, status, namespaces", async () => {
    const api = t.client(t.admin);
    const w = await BackupWriter.start(opts("mgmt"));
    const h = await w.createDynamicIndex("a.didx");
    const c = makeChunk(1000);
    await h.addChunk(c.digest, 1000, c.blob);
    await h.close();
    await w.finish();
    const sel = { "backup-type": "host" as const, "backup-id": "mgmt", "backup-time": 1_700_000_000 };
    await api.setProtected("store1", sel, true);
    expect(await api.getProtected("store1", sel)).toBe(true);
    await expect(api.forgetSnapshot("store1", sel)).rejects.toMatchObject({ code: "ERR_PROTECTED", status: 409 });
    await api.setProtected("store1", sel, false);
    await api.setNotes("store1", sel, "first line\nmore");
    expect(await api.getNotes("store1", sel)).toBe("first line\nmore");
    const st = await api.datastoreStatus("store1");
    expect(st.total).toBeGreaterThan(0);
    expect(st.counts.host.snapshots).toBeGreaterThan(0);
    await api.forgetSnapshot("store1", sel);
    await expect(api.getNotes("store1", sel)).rejects.toMatchObject({ status: 404 });
    await api.createNamespace("store1", "team");
    expect((await api.listNamespaces("store1")).map((n) => n.ns)).toContain("team");
    const wn = await BackupWriter.start({ ...opts("in-ns"), ns: "team" });
    const hn = await wn.createDynamicIndex("a.didx");
    await hn.addChunk(c.digest, 1000, c.blob);
    await hn.close();
    await wn.finish();
    expect((await api.listGroups("store1", "team")).map((g) => g["backup-id"])).toEqual(["in-ns"]);
    // a namespace that is not there: 404 naming it, not an empty list
    await expect(api.listGroups("store1", "nothere")).rejects.toMatchObject({ code: "ERR_NOT_FOUND", status: 404, message: expect.stringContaining('namespace "nothere" does not exist') });
    await expect(api.listGroups("store1", "team/sub")).rejects.toMatchObject({ code: "ERR_NOT_FOUND", status: 404 });
    expect((await api.datastoreUsage())[0].store).toBe("store1");
    expect((await api.version()).version).toBeTruthy();
  });

  it("snapshots in use by a reader or as a running backup's base cannot be forgotten (409)", async () => {
    const api = t.client(t.admin);
    const c = makeChunk(1500);
    const w = await BackupWriter.start(opts("inuse"));
    const h = await w.createDynamicIndex("a.didx");
    await h.addChunk(c.digest, 1500, c.blob);
    await h.close();
    await w.finish();
    const sel = { "backup-type": "host" as const, "backup-id": "inuse", "backup-time": 1_700_000_000 };
    const r = await BackupReader.open(opts("inuse"));
    await expect(api.forgetSnapshot("store1", sel)).rejects.toMatchObject({ status: 409 });
    await r.close();
    const w2 = await BackupWriter.start(opts("inuse", 1_700_000_100));
    expect(await w2.previousBackupTime()).toBe(1_700_000_000);
    await expect(api.forgetSnapshot("store1", sel)).rejects.toMatchObject({ status: 409 });
    await w2.abort();
    await until(() => !fs.existsSync(path.join(t.storePath, "host", "inuse", "2023-11-14T22:15:00Z")));
    // once nothing uses it, forget works
    await new Promise((res) => setTimeout(res, 100));
    await api.forgetSnapshot("store1", sel);
  });
});
