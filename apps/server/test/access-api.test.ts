import fs from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BackupWriter, CairnClient } from "@cairn/protocol";
import { createToken, createUser } from "../src/auth.js";
import { setAcl } from "../src/acl.js";
import { ConfigDir } from "../src/config.js";
import { startServer } from "../src/server.js";
import { createDatastore } from "../src/stores.js";
import { type TestServer, makeChunk, rawSession, startTestServer } from "./helpers.js";

describe("access API", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t.close();
  });

  it("lets an admin create a user and an ACL; the user logs in, makes a token and backs up with it", async () => {
    const admin = t.client(t.admin);
    await admin.createUser("dora@pbs", "dora-password");
    await expect(admin.createUser("dora@pbs", "dora-password")).rejects.toMatchObject({ code: "ERR_EXISTS", status: 409 });
    await expect(admin.createUser("bad/user@pbs" as string, "x-password")).rejects.toMatchObject({ status: 400 });
    const { client: dora } = await CairnClient.login({ ...t.conn, username: "dora@pbs", password: "dora-password" });
    const tok = await dora.createToken("dora@pbs", "ci");
    expect(tok.tokenid).toBe("dora@pbs!ci");
    await expect(dora.createToken("admin@pbs", "steal")).rejects.toMatchObject({ status: 403 });
    await admin.setAcl({ path: "/datastore/store1", role: "DatastoreBackup", "auth-id": "dora@pbs" });
    await admin.setAcl({ path: "/datastore/store1", role: "DatastoreBackup", "auth-id": "dora@pbs!ci" });
    expect((await admin.getAcl()).some((e) => e["auth-id"] === "dora@pbs!ci")).toBe(true);
    const c = makeChunk(1000);
    const w = await BackupWriter.start({ ...t.conn, auth: { tokenId: tok.tokenid, secret: tok.value }, store: "store1", backupType: "ct", backupId: "100", backupTime: 1_700_000_000 });
    const h = await w.createDynamicIndex("root.didx");
    await h.addChunk(c.digest, 1000, c.blob);
    await h.close();
    await w.finish();
    // the user sees the group its token made (owner: the token) and its own tasks only
    expect((await dora.listGroups("store1")).map((g) => g.owner)).toEqual(["dora@pbs!ci"]);
    const tasks = await dora.listTasks();
    expect(tasks.length).toBeGreaterThan(0);
    expect(tasks.every((x) => x.user.startsWith("dora@pbs"))).toBe(true);
    expect((await admin.listUsers()).map((u) => u.userid)).toContain("dora@pbs");
    await dora.close();
  });

  it("a token acts only on its own groups and sees only its own tasks, as in PBS; its user may act on both", async () => {
    const { config } = t;
    createUser(config, "erin@pbs", "erin-password");
    const a = { tokenId: "erin@pbs!a", secret: createToken(config, "erin@pbs!a") };
    const b = { tokenId: "erin@pbs!b", secret: createToken(config, "erin@pbs!b") };
    for (const id of ["erin@pbs", a.tokenId, b.tokenId]) setAcl(config, { path: "/datastore/store1", role: "DatastoreBackup", authId: id });
    const backup = async (auth: { tokenId: string; secret: string } | { ticket: string }, id: string, time: number) => {
      const w = await BackupWriter.start({ ...t.conn, auth, store: "store1", backupType: "host", backupId: id, backupTime: time });
      const c = makeChunk(500, time % 1000);
      const h = await w.createDynamicIndex("root.didx");
      await h.addChunk(c.digest, 500, c.blob);
      await h.close();
      await w.finish();
    };
    const { client: erin, ticket } = await CairnClient.login({ ...t.conn, username: "erin@pbs", password: "erin-password" });
    await backup({ ticket: ticket.ticket }, "erin-own", 1_700_000_000);
    await backup(a, "erin-a", 1_700_000_000);
    // a token may not write into its user's group nor a sibling's; the user may write into its token's
    await expect(backup(a, "erin-own", 1_700_000_001)).rejects.toMatchObject({ status: 403 });
    await expect(backup(b, "erin-a", 1_700_000_001)).rejects.toMatchObject({ status: 403 });
    await backup({ ticket: ticket.ticket }, "erin-a", 1_700_000_002);
    const ca = t.client(a);
    const cb = t.client(b);
    expect((await ca.listGroups("store1")).map((g) => g["backup-id"])).toEqual(["erin-a"]);
    // a group asked for by name that is someone else's says so; one that does not exist is 404
    await expect(cb.listSnapshots("store1", { "backup-type": "host", "backup-id": "erin-a" })).rejects.toMatchObject({ status: 403, code: "ERR_NOT_OWNER" });
    await expect(cb.forgetSnapshot("store1", { "backup-type": "host", "backup-id": "no-such", "backup-time": 1 })).rejects.toMatchObject({ status: 404, code: "ERR_NOT_FOUND" });
    // tasks: b sees none of a's or the user's, and cannot stop them; the user sees its tokens'
    const aTasks = (await ca.listTasks()).map((x) => x.upid);
    expect(aTasks.length).toBeGreaterThan(0);
    expect(await cb.listTasks()).toEqual([]);
    await expect(cb.taskStatus(aTasks[0])).rejects.toMatchObject({ status: 404 });
    await expect(cb.stopTask(aTasks[0])).rejects.toMatchObject({ status: 404 });
    const userSees = (await erin.listTasks({ limit: 1000 })).map((x) => x.upid);
    expect(userSees).toEqual(expect.arrayContaining(aTasks));
    // the user stops a running backup of its token: the token's client is told who stopped it
    const ws = await rawSession(t, "backup", { store: "store1", "backup-type": "host", "backup-id": "erin-a", "backup-time": 1_700_000_010 }, a);
    const closed = new Promise<[number, string]>((r) => ws.once("close", (code, reason) => r([code, reason.toString()])));
    const running = (await erin.listTasks({ running: true })).find((x) => x.type === "backup" && x.user === a.tokenId);
    expect(running).toBeDefined();
    await erin.stopTask(running!.upid);
    expect(await closed).toEqual([1001, "the task was stopped by erin@pbs"]);
    const st = await erin.waitTask(running!.upid);
    expect([st.state, st.errorcode]).toEqual(["aborted", "ERR_ABORTED"]);
    await erin.close();
  });

  it("a namespace the caller may not see is left out of the store's status and of a store-wide verify", async () => {
    const { config } = t;
    const admin = t.client(t.admin);
    await admin.createNamespace("store1", "hidden");
    const w = await BackupWriter.start({ ...t.conn, auth: t.admin, store: "store1", ns: "hidden", backupType: "vm", backupId: "999", backupTime: 1_700_000_000 });
    const c = makeChunk(700, 77);
    const h = await w.createDynamicIndex("root.didx");
    await h.addChunk(c.digest, 700, c.blob);
    await h.close();
    await w.finish();
    const r = t.addUser("rita", "DatastoreReader");
    setAcl(config, { path: "/datastore/store1/hidden", role: "NoAccess", authId: "rita@pbs" });
    setAcl(config, { path: "/datastore/store1/hidden", role: "NoAccess", authId: r.tokenId });
    const rita = t.client(r);
    // a user whose ACL names only a namespace still sees the store listed, as in PBS
    const nina = t.addUser("nina", "DatastoreBackup", "/datastore/store1/hidden");
    expect((await t.client(nina).listDatastores()).map((d) => d.store)).toEqual(["store1"]);
    expect((await t.client(t.addUser("noone")).listDatastores()).map((d) => d.store)).toEqual([]);
    expect((await admin.datastoreStatus("store1")).counts.vm?.groups).toBe(1);
    expect((await rita.datastoreStatus("store1")).counts.vm).toBeUndefined();
    const upid = await rita.verify("store1", {});
    await rita.waitTask(upid);
    const log = (await rita.taskLog(upid)).map((l) => l.t).join("\n");
    expect(log).not.toContain("ns/hidden");
    // nothing was written into its manifest either
    expect((await admin.listSnapshots("store1", { ns: "hidden" }))[0].verification).toBeUndefined();
    expect(log).toMatch(/TASK OK|checked/);
  });

  it("accepts the ticket in a CAIRNAuthCookie header too", async () => {
    const { ticket } = await CairnClient.login({ ...t.conn, username: "admin@pbs", password: "password123" });
    const c = new CairnClient({ ...t.conn, auth: { ticket: ticket.ticket } });
    expect((await c.version()).version).toBeTruthy();
    await c.close();
    const status = await new Promise<number | undefined>((resolve, reject) => {
      https
        .get(`${t.conn.url}/api2/json/version`, { rejectUnauthorized: false, headers: { CAIRNAuthCookie: ticket.ticket } }, (res) => {
          res.resume();
          resolve(res.statusCode);
        })
        .on("error", reject);
    });
    expect(status).toBe(200);
    const tampered = new CairnClient({ ...t.conn, auth: { ticket: ticket.ticket.replace("admin@pbs", "root@pam") } });
    await expect(tampered.version()).rejects.toMatchObject({ status: 401 });
    await tampered.close();
  });
});

describe("shutdown", () => {
  it("aborts a running backup (its snapshot is removed) and closes", async () => {
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "cairn-shutdown-"));
    const config = new ConfigDir(path.join(dir, "config"));
    config.ensure();
    await createDatastore(config, "s", path.join(dir, "s"), { lazyChunkFolders: true });
    createUser(config, "a@pbs");
    const secret = createToken(config, "a@pbs!t");
    setAcl(config, { path: "/", role: "Admin", authId: "a@pbs" });
    setAcl(config, { path: "/", role: "Admin", authId: "a@pbs!t" });
    const srv = await startServer({ configDir: config.dir, listen: "127.0.0.1:0", workers: 1 });
    const w = await BackupWriter.start({ url: srv.url, fingerprint: srv.fingerprint, auth: { tokenId: "a@pbs!t", secret }, store: "s", backupType: "host", backupId: "h", backupTime: 1_700_000_000 });
    const h = await w.createDynamicIndex("a.didx");
    const c = makeChunk(1000);
    await h.addChunk(c.digest, 1000, c.blob);
    await srv.close();
    expect(fs.existsSync(path.join(dir, "s", "host", "h", "2023-11-14T22:13:20Z"))).toBe(false);
    await expect(h.close()).rejects.toMatchObject({ code: "ERR_CONNECTION" });
    await fs.promises.rm(dir, { recursive: true, force: true });
  });
});
