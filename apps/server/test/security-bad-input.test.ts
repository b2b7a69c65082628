import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import tls from "node:tls";
import https from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeBlob } from "@cairn/format";
import { BackupReader, BackupWriter, CairnClient, ProtocolError } from "@cairn/protocol";
import { authenticate } from "../src/auth.js";
import { type TestServer, makeChunk, startTestServer } from "./helpers.js";

async function codeOf(p: Promise<unknown>): Promise<{ code: string; status: number }> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    return { code: (err as ProtocolError).code, status: (err as ProtocolError).status };
  }
  throw new Error("expected a failure");
}

function chunkFiles(storePath: string): string[] {
  const dir = path.join(storePath, ".chunks");
  const out: string[] = [];
  for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
    if (d.isDirectory()) for (const f of fs.readdirSync(path.join(dir, d.name))) out.push(f);
  }
  return out;
}

describe("bad input and security", () => {
  let t: TestServer;
  let bob: { tokenId: string; secret: string };
  let carol: { tokenId: string; secret: string };
  let audit: { tokenId: string; secret: string };
  beforeAll(async () => {
    t = await startTestServer();
    bob = t.addUser("bob", "DatastoreBackup");
    carol = t.addUser("carol", "DatastoreBackup");
    audit = t.addUser("audrey", "DatastoreAudit");
  });
  afterAll(async () => {
    await t.close();
  });

  const opts = (auth: { tokenId: string; secret: string }, id = "sec", time = 1_700_000_000) => ({
    ...t.conn,
    store: "store1",
    auth,
    backupType: "host" as const,
    backupId: id,
    backupTime: time,
  });

  it("answers an HTTP request it cannot parse in its own error shape (400, and 431 for oversized headers)", async () => {
    const raw = async (request: string): Promise<{ status: number; body: { error?: { code?: string; message?: string } } }> => {
      const socket = tls.connect({ host: "127.0.0.1", port: Number(new URL(t.conn.url).port), rejectUnauthorized: false });
      await new Promise<void>((r, j) => socket.once("secureConnect", () => r()).once("error", j));
      socket.write(request);
      const text = await new Promise<string>((r) => {
        let got = "";
        socket.on("data", (c: Buffer) => {
          got += c.toString("latin1");
        });
        socket.on("close", () => r(got));
      });
      const [head, body] = text.split("\r\n\r\n");
      return { status: Number(head.split(" ")[1]), body: JSON.parse(body) };
    };
    const garbage = await raw("NOT HTTP AT ALL\r\n\r\n");
    expect(garbage.status).toBe(400);
    expect(garbage.body.error?.code).toBe("ERR_BAD_REQUEST");
    expect(garbage.body.error?.message).toMatch(/the HTTP request could not be read \(HPE_/);
    const big = await raw(`GET /api2/json/version HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`);
    expect(big.status).toBe(431);
    expect(big.body.error?.code).toBe("ERR_BAD_REQUEST");
    // the server goes on serving
    expect((await t.client(t.admin).version()).version).toBeDefined();
  });

  it("refuses a query parameter the route does not define, by name (400), as PBS does", async () => {
    const get = (q: string) =>
      new Promise<{ status: number; body: { error?: { code?: string; message?: string } } }>((resolve, reject) => {
        const req = https.get(
          `${t.conn.url}/api2/json/admin/datastore/store1/snapshots?${q}`,
          { rejectUnauthorized: false, headers: { authorization: `CAIRNAPIToken ${t.admin.tokenId}:${t.admin.secret}` } },
          (res) => {
            let text = "";
            res.on("data", (c: Buffer) => {
              text += c.toString();
            });
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
          },
        );
        req.on("error", reject);
      });
    const typo = await get("backup-idd=web1");
    expect(typo.status).toBe(400);
    expect(typo.body.error?.code).toBe("ERR_BAD_REQUEST");
    expect(typo.body.error?.message).toBe('unknown query parameter "backup-idd" (this route takes ns, backup-type, backup-id)');
    expect((await get("backup-id=web1")).status).toBe(200);
  });

  it("refuses a request without or with a wrong token (401)", async () => {
    const anon = new CairnClient({ ...t.conn, auth: { ticket: "" } });
    expect(await codeOf(anon.listDatastores())).toEqual({ code: "ERR_AUTH", status: 401 });
    const wrong = t.client({ tokenId: bob.tokenId, secret: "not-the-secret" });
    expect(await codeOf(wrong.listDatastores())).toEqual({ code: "ERR_AUTH", status: 401 });
    const ghost = t.client({ tokenId: "ghost@pbs!x", secret: "x" });
    expect(await codeOf(ghost.version())).toEqual({ code: "ERR_AUTH", status: 401 });
    await anon.close();
    expect((await codeOf(BackupWriter.start(opts({ tokenId: bob.tokenId, secret: "nope" })))).status).toBe(401);
    // a verify of part of a selection, or of a group that does not exist, is not "all fine"
    const admin = t.client(t.admin);
    expect(await codeOf(admin.verify("store1", { "backup-time": 5 } as never))).toEqual({ code: "ERR_BAD_REQUEST", status: 400 });
    expect(await codeOf(admin.verify("store1", { "backup-type": "host" } as never))).toEqual({ code: "ERR_BAD_REQUEST", status: 400 });
    expect(await codeOf(admin.verify("store1", { "backup-type": "host", "backup-id": "nope" }))).toEqual({ code: "ERR_NOT_FOUND", status: 404 });
    await admin.close();
    // a cookie with a malformed %-escape is no credential, not a server error
    for (const cookie of ["CAIRNAuthCookie=%ZZ", "CAIRNAuthCookie=%E0%A4%A", "a=1; CAIRNAuthCookie=%"]) {
      expect(() => authenticate(t.config, { cookie }), cookie).toThrow(expect.objectContaining({ code: "ERR_AUTH" }));
    }
  });

  it("refuses a valid token without the privilege (403)", async () => {
    expect((await codeOf(BackupWriter.start(opts(audit)))).status).toBe(403);
    expect(await codeOf(t.client(bob).startGc("store1"))).toEqual({ code: "ERR_FORBIDDEN", status: 403 });
    expect((await codeOf(t.client(bob).createUser("eve@pbs"))).status).toBe(403);
    // A token never gets more than its user: a token with Admin whose user has nothing.
    const { createToken } = await import("../src/auth.js");
    const { setAcl } = await import("../src/acl.js");
    const { createUser } = await import("../src/auth.js");
    createUser(t.config, "mallory@pbs");
    const secret = createToken(t.config, "mallory@pbs!t");
    setAcl(t.config, { path: "/", role: "Admin", authId: "mallory@pbs!t" });
    expect((await codeOf(t.client({ tokenId: "mallory@pbs!t", secret }).startGc("store1"))).status).toBe(403);
  });

  it("refuses a backup into a group owned by someone else (403)", async () => {
    const c = makeChunk(1000);
    const w = await BackupWriter.start(opts(bob, "owned-by-bob"));
    const h = await w.createDynamicIndex("a.didx");
    await h.addChunk(c.digest, c.data.length, c.blob);
    await h.close();
    await w.finish();
    expect(await codeOf(BackupWriter.start(opts(carol, "owned-by-bob", 1_700_000_100)))).toEqual({ code: "ERR_NOT_OWNER", status: 403 });
    expect((await codeOf(BackupReader.open(opts(carol, "owned-by-bob")))).status).toBe(403);
    // carol does not even see bob's group
    expect((await t.client(carol).listGroups("store1")).map((g) => g["backup-id"])).not.toContain("owned-by-bob");
    expect((await t.client(bob).listGroups("store1")).map((g) => g["backup-id"])).toContain("owned-by-bob");
  });

  it("refuses bad names with 400 before touching the disk", async () => {
    for (const id of ["a/b", "..", "x\u0000y", "x".repeat(200), "../../etc"]) {
      const r = await codeOf(BackupWriter.start(opts(bob, id)));
      expect(r.status).toBe(400);
    }
    const before = fs.readdirSync(t.storePath).sort();
    expect(before).not.toContain("a");
    const w = await BackupWriter.start(opts(bob, "names"));
    for (const name of ["../x.didx", "a/b.didx", "x\u0000.didx", `${"n".repeat(200)}.didx`, "noext"]) {
      expect((await codeOf(w.createDynamicIndex(name))).status).toBe(400);
    }
    expect((await codeOf(w.createDynamicIndex("wrong.fidx"))).status).toBe(400);
    // a fixed index whose digest table would not fit in memory
    expect((await codeOf(w.createFixedIndex("huge.fidx", 2 ** 52, { chunkSize: 4096 }))).status).toBe(400);
    await w.abort();
    const q = await codeOf(t.client(bob).listSnapshots("store1", { "backup-id": "../x" }));
    expect(q.status).toBe(400);
    // a value outside a set of constants names the allowed ones, once
    const bad = await t.client(bob).listSnapshots("store1", { "backup-type": "zz" }).catch((e: unknown) => e as ProtocolError);
    expect(bad).toBeInstanceOf(ProtocolError);
    expect((bad as ProtocolError).code).toBe("ERR_BAD_REQUEST");
    expect((bad as ProtocolError).message).toBe('invalid querystring: querystring/backup-type must be one of "vm", "ct", "host"');
  });

  it("refuses oversize, wrongly sized, wrongly named and corrupt chunks (400) and stores nothing", async () => {
    const w = await BackupWriter.start(opts(bob, "chunks"));
    const h = await w.createDynamicIndex("c.didx");
    const before = chunkFiles(t.storePath).length;
    const c = makeChunk(5000);
    const call = (params: Record<string, unknown>, body: Buffer) =>
      // biome-ignore lint/suspicious/noExplicitAny: reaching the session for hand-made requests
      (w as any).call("dynamic_chunk", { wid: h.wid, ...params }, body);
    const hex = c.digest.toString("hex");
    // declared encoded size differs
    expect(await codeOf(call({ digest: hex, size: 5000, "encoded-size": c.blob.length + 1 }, c.blob))).toEqual({ code: "ERR_CHUNK_SIZE", status: 400 });
    // declared plain size differs
    expect(await codeOf(call({ digest: hex, size: 4999, "encoded-size": c.blob.length }, c.blob))).toEqual({ code: "ERR_CHUNK_SIZE", status: 400 });
    // wrong digest
    const other = createHash("sha256").update("other").digest("hex");
    expect(await codeOf(call({ digest: other, size: 5000, "encoded-size": c.blob.length }, c.blob))).toEqual({ code: "ERR_CHUNK_DIGEST", status: 400 });
    // bad CRC
    const bad = Buffer.from(c.blob);
    bad[bad.length - 1] ^= 0xff;
    expect(await codeOf(call({ digest: hex, size: 5000, "encoded-size": bad.length }, bad))).toEqual({ code: "ERR_CHUNK_CRC", status: 400 });
    // not a blob at all
    expect((await codeOf(call({ digest: hex, size: 5000, "encoded-size": 5000 }, Buffer.alloc(5000)))).status).toBe(400);
    // oversize (declared > 16 MiB)
    expect(await codeOf(call({ digest: hex, size: 16 * 1024 * 1024 + 1, "encoded-size": c.blob.length }, c.blob))).toEqual({ code: "ERR_CHUNK_TOO_LARGE", status: 400 });
    // really oversize body
    const huge = encodeBlob(Buffer.alloc(16 * 1024 * 1024 + 1));
    const hugeDigest = createHash("sha256").update(Buffer.alloc(16 * 1024 * 1024 + 1)).digest("hex");
    expect((await codeOf(call({ digest: hugeDigest, size: 16 * 1024 * 1024 + 1, "encoded-size": huge.length }, huge))).code).toBe("ERR_CHUNK_TOO_LARGE");
    expect(chunkFiles(t.storePath).length).toBe(before);
    // unknown digest in append
    // biome-ignore lint/suspicious/noExplicitAny: hand-made request
    const r = await codeOf((w as any).call("dynamic_append", { wid: h.wid, "digest-list": [other], "offset-list": [0] }));
    expect(r).toEqual({ code: "ERR_CHUNK_UNKNOWN", status: 400 });
    // a good chunk still works afterwards: the session survived the bad ones
    await h.addChunk(c.digest, 5000, c.blob);
    await h.close();
    // a blob that is not a blob
    expect((await codeOf(w.uploadBlob("x.blob", Buffer.from("hello world, not a blob")))).code).toBe("ERR_BLOB_INVALID");
    await w.finish();
    expect(chunkFiles(t.storePath).length).toBe(before + 1);
  });

  it("finish needs closed writers, a manifest and at least one file", async () => {
    const w = await BackupWriter.start(opts(bob, "finish-rules"));
    expect((await codeOf(w.finish())).status).toBe(400);
    // biome-ignore lint/suspicious/noExplicitAny: hand-made request
    expect((await codeOf((w as any).call("finish"))).code).toBe("ERR_MANIFEST_INVALID");
    await w.abort();
  });

  it("a reader gets only chunks referenced by indexes it downloaded (403)", async () => {
    const a = makeChunk(3000);
    const b = makeChunk(3000);
    for (const [id, c] of [["reader-a", a], ["reader-b", b]] as const) {
      const w = await BackupWriter.start(opts(bob, id));
      const h = await w.createDynamicIndex("x.didx");
      await h.addChunk(c.digest, 3000, c.blob);
      await h.close();
      await w.finish();
    }
    const r = await BackupReader.open(opts(bob, "reader-a"));
    expect(await codeOf(r.chunk(a.digest))).toEqual({ code: "ERR_FORBIDDEN", status: 403 });
    await r.openDynamicIndex("x.didx");
    expect((await r.chunk(a.digest)).equals(a.blob)).toBe(true);
    expect(await codeOf(r.chunk(b.digest))).toEqual({ code: "ERR_FORBIDDEN", status: 403 });
    expect((await codeOf(r.download("missing.didx"))).status).toBe(404);
    await r.close();
  });

  it("a second backup of a running group is refused with 409", async () => {
    const w = await BackupWriter.start(opts(bob, "busy"));
    const err = await codeOf(BackupWriter.start(opts(bob, "busy", 1_700_000_500)));
    expect(err).toEqual({ code: "ERR_BACKUP_RUNNING", status: 409 });
    await w.abort();
  });

  it("rejects a server whose fingerprint does not match the pin", async () => {
    const wrong = "AA:".repeat(31) + "AA";
    const c = new CairnClient({ url: t.conn.url, fingerprint: wrong, auth: t.admin });
    expect((await codeOf(c.version())).code).toBe("ERR_FINGERPRINT");
    await c.close();
    expect((await codeOf(BackupWriter.start({ ...opts(bob, "fp"), fingerprint: wrong }))).code).toBe("ERR_FINGERPRINT");
    // without a pin and without a CA that signed it, the self-signed certificate is refused
    const noPin = new CairnClient({ url: t.conn.url, auth: t.admin });
    expect((await codeOf(noPin.version())).code).toBe("ERR_CONNECTION");
    await noPin.close();
  });

  it("issues tickets for passwords and refuses wrong passwords", async () => {
    expect((await codeOf(CairnClient.login({ ...t.conn, username: "bob@pbs", password: "wrong-password" }))).status).toBe(401);
    const { client, ticket } = await CairnClient.login({ ...t.conn, username: "bob@pbs", password: "password123" });
    expect(ticket.username).toBe("bob@pbs");
    expect((await client.listDatastores()).map((d) => d.store)).toEqual(["store1"]);
    await client.close();
  });
});
