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
import { type TestServer, makeChunk, startTestServer } from "./helpers.js";

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
