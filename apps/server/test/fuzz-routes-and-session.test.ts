// Fuzzing every REST route and every session message (fast-check): random methods, path
// parameters, queries, JSON and non-JSON bodies, credentials; random backup and reader ops with
// random params and bodies, and random upgrade queries. The server must answer every one in
// time, with a 2xx or a typed 4xx (`{error:{code,message}}`); a 5xx or a hang fails the test.
// CI runs ~1,500 cases; CAIRN_CHAOS=long about 20,000.

import { createHash } from "node:crypto";
import path from "node:path";
import { AccessRoutes, BackupWriter, CLOSE_CODES, DatastoreRoutes, TasksRoutes, connectTrusted, decodeFrame, encodeFrame, resolveEndpoint, statusOf } from "@cairn/protocol";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { LONG } from "./chaos/store-checks.js";
import { type TestServer, makeChunk, startTestServer } from "./helpers.js";

const RUNS = LONG ? { rest: 12_000, backup: 6000, reader: 2000, upgrade: 600 } : { rest: 700, backup: 450, reader: 250, upgrade: 60 };
const TIMEOUT_MS = 10_000;
const SNAP_TIME = 1_700_000_000;

const ROUTES = [...Object.values(DatastoreRoutes), ...Object.values(AccessRoutes), ...Object.values(TasksRoutes)].map((r) => ({ method: r.method as string, url: r.url as string }));
ROUTES.push({ method: "GET", url: "/api2/json/backup" }, { method: "GET", url: "/api2/json/reader" }, { method: "GET", url: "/api2/json/nothing/:store" });

const KEYS = [
  "store", "ns", "backup-type", "backup-id", "backup-time", "running", "limit", "start", "parent", "name", "path", "comment",
  "keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly", "dry-run", "protected", "notes",
  "ignore-verified", "outdated-after", "username", "password", "userid", "role", "auth-id", "propagate", "delete", "x",
];

const word = fc.oneof(
  fc.constantFrom("store1", "nope", "..", "__proto__", "constructor", "a/b", "", ".", "%2e%2e", "host", "vm", "ct", "web", "fuzz", "admin@pbs", "admin@pbs!t", "Admin", "DatastoreBackup", "/", "/datastore/store1", "1700000000", "-1", "1e309", "true", "null", "x".repeat(300), "UPID:localhost:1:1:1:garbage_collection:store1:admin@pbs:"),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 12 }),
);
const value = fc.oneof(word, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(word, { maxLength: 3 }), fc.jsonValue({ maxDepth: 2 }));

type Answer = { status: number; body: string };

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`hang: ${what}`)), TIMEOUT_MS)))]).finally(() => clearTimeout(timer));
}

function expectTyped(a: Answer, what: string): void {
  expect(a.status, `${what} → ${a.status} ${a.body.slice(0, 300)}`).toBeLessThan(500);
  if (a.status >= 400) {
    const e = (JSON.parse(a.body) as { error?: { code?: unknown; message?: unknown } }).error;
    expect(typeof e?.code === "string" && /^ERR_[A-Z_]+$/.test(e.code), `${what}: ${a.body.slice(0, 300)}`).toBe(true);
    expect(typeof e?.message, what).toBe("string");
  }
}

describe("fuzz: REST routes and session messages", () => {
  let t: TestServer;
  let backupUser: { tokenId: string; secret: string };
  const stats = { rest: 0, backupFrames: 0, readerFrames: 0, upgrades: 0, sessionsOpened: 0 };

  beforeAll(async () => {
    t = await startTestServer();
    backupUser = t.addUser("bob", "DatastoreBackup");
    const chunks = [makeChunk(3000, 1), makeChunk(5000, 2)];
    const w = await BackupWriter.start({ ...t.conn, auth: t.admin, store: "store1", backupType: "host", backupId: "web", backupTime: SNAP_TIME });
    const idx = await w.createDynamicIndex("data.didx");
    for (const c of chunks) await idx.addChunk(c.digest, c.data.length, c.blob);
    await idx.close();
    await w.finish();
  });

  afterAll(async () => {
    console.log(`fuzz cases: ${JSON.stringify(stats)}`);
    await t.close();
  });

  it("answers every REST request with 2xx or a typed 4xx", { timeout: LONG ? 900_000 : 120_000 }, async () => {
    const auths = (): Array<Record<string, string>> => [
      { authorization: `CAIRNAPIToken ${t.admin.tokenId}:${t.admin.secret}` },
      { authorization: `CAIRNAPIToken ${backupUser.tokenId}:${backupUser.secret}` },
      {},
      { authorization: "CAIRNAPIToken admin@pbs!t:wrong" },
      { cookie: "CAIRNAuthCookie=CAIRN:admin@pbs:0::00" },
    ];
    const request = fc.record({
      route: fc.constantFrom(...ROUTES),
      method: fc.oneof(fc.constant(undefined), fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH")),
      params: fc.array(word, { minLength: 3, maxLength: 3 }),
      query: fc.dictionary(fc.constantFrom(...KEYS), fc.oneof(word, fc.integer().map(String)), { maxKeys: 5 }),
      body: fc.oneof(
        fc.constant(undefined),
        fc.dictionary(fc.constantFrom(...KEYS), value, { maxKeys: 6 }),
        fc.jsonValue({ maxDepth: 2 }),
        fc.string({ maxLength: 60 }).map((s) => ({ raw: s })),
      ),
      auth: fc.nat(4),
    });
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        let i = 0;
        const url = r.route.url.replace(/:[a-z]+/g, () => encodeURIComponent(r.params[i++ % 3]));
        const qs = new URLSearchParams(Object.entries(r.query)).toString();
        const headers: Record<string, string> = { ...auths()[r.auth] };
        let payload: string | undefined;
        if (r.body !== undefined) {
          let body = r.body as unknown;
          if (body && typeof body === "object" && "path" in body && r.route.url === "/api2/json/config/datastore") {
            // Datastores may be created only inside the test folder.
            body = { ...body, path: path.join(t.dir, "fuzz-stores", createHash("sha256").update(String((body as { path: unknown }).path)).digest("hex").slice(0, 12)) };
          }
          payload = body && typeof body === "object" && "raw" in body ? String((body as { raw: unknown }).raw) : JSON.stringify(body);
          headers["content-type"] = "application/json";
        }
        const method = (r.method ?? r.route.method) as "GET";
        const res = await withTimeout(t.srv.app.inject({ method, url: qs ? `${url}?${qs}` : url, headers, payload }), `${method} ${url}`);
        stats.rest++;
        expectTyped({ status: res.statusCode, body: res.body }, `${method} ${url}?${qs} body=${payload?.slice(0, 200)}`);
      }),
      { numRuns: RUNS.rest },
    );
  });

  it("does not take Object.prototype for a datastore named __proto__ (found by fuzzing)", async () => {
    for (const name of ["__proto__", "constructor", "toString"]) {
      const res = await t.srv.app.inject({ method: "GET", url: `/api2/json/admin/datastore/${name}/groups`, headers: { authorization: `CAIRNAPIToken ${t.admin.tokenId}:${t.admin.secret}` } });
      expect(res.statusCode).toBe(404);
      expect(res.json().error.code).toBe("ERR_NOT_FOUND");
    }
    const res = await t.srv.app.inject({ method: "POST", url: "/api2/json/config/datastore", headers: { authorization: `CAIRNAPIToken ${t.admin.tokenId}:${t.admin.secret}` }, payload: { name: "__proto__", path: path.join(t.dir, "proto") } });
    expect(res.statusCode).toBe(400);
  });

  /** A raw session socket and one request → its answer, or the close code if the server closed. */
  async function openRaw(route: "backup" | "reader", query: Record<string, string>): Promise<{ ws?: WebSocket; status?: number; body?: string }> {
    const ep = resolveEndpoint({ ...t.conn, auth: t.admin });
    const socket = await connectTrusted(ep.host, ep.port, ep.trust);
    const ws = new WebSocket(`wss://127.0.0.1:${ep.port}/api2/json/${route}?${new URLSearchParams(query)}`, { createConnection: () => socket, headers: ep.authHeaders });
    return withTimeout(
      new Promise((resolve, reject) => {
        ws.once("open", () => resolve({ ws }));
        ws.once("unexpected-response", (_q, res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c));
          res.on("end", () => {
            socket.destroy();
            resolve({ status: res.statusCode, body });
          });
        });
        ws.once("error", reject);
      }),
      `open ${route}`,
    );
  }

  function exchange(ws: WebSocket, frame: Buffer): Promise<{ answer?: { ok: boolean; error?: { code: string; message: string } }; close?: number }> {
    return withTimeout(
      new Promise((resolve) => {
        const onMessage = (data: Buffer) => {
          cleanup();
          resolve({ answer: decodeFrame(data).header as { ok: boolean } });
        };
        const onClose = (code: number) => {
          cleanup();
          resolve({ close: code });
        };
        const cleanup = () => {
          ws.off("message", onMessage);
          ws.off("close", onClose);
        };
        ws.on("message", onMessage);
        ws.on("close", onClose);
        ws.send(frame, { binary: true });
      }),
      "session answer",
    );
  }

  const paramsArb = fc.dictionary(
    fc.constantFrom("wid", "digest", "size", "encoded-size", "archive-name", "file-name", "digest-list", "offset-list", "csum", "chunk-count", "chunk-size", "x"),
    fc.oneof(fc.nat(5).map((n) => n), fc.integer(), fc.constantFrom("data.didx", "img.fidx", "a.blob", "index.json.blob", "../x.didx"), word, fc.array(fc.oneof(word, fc.nat()), { maxLength: 3 }), fc.constant(null), fc.double()),
    { maxKeys: 6 },
  );

  async function fuzzSession(route: "backup" | "reader", ops: string[], runs: number, count: "backupFrames" | "readerFrames") {
    let ws: WebSocket | undefined;
    let n = 0;
    const session = async () => {
      if (ws && ws.readyState === ws.OPEN) return ws;
      const time = route === "backup" ? SNAP_TIME + 1000 + n++ : SNAP_TIME;
      const r = await openRaw(route, { store: "store1", "backup-type": "host", "backup-id": route === "backup" ? `fz${n % 50}` : "web", "backup-time": String(time) });
      if (!r.ws) throw new Error(`cannot open a ${route} session: ${r.status} ${r.body}`);
      stats.sessionsOpened++;
      ws = r.ws;
      return ws;
    };
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constantFrom(...ops), fc.string({ maxLength: 20 })), paramsArb, fc.uint8Array({ maxLength: 64 }), fc.nat(1_000_000), fc.nat(19), async (op, params, body, id, kind) => {
        const s = await session();
        // One frame in twenty is raw bytes (mostly not a frame at all: the session must close with 4400).
        const frame = kind === 0 ? Buffer.from(body) : encodeFrame({ id, op, params }, body);
        const r = await exchange(s, frame);
        stats[count]++;
        if (r.close !== undefined) {
          // A session ends after finish (1000) or on a malformed frame (4400); never on a crash.
          expect([CLOSE_CODES.NORMAL, CLOSE_CODES.BAD_FRAME], `${op} ${JSON.stringify(params)}`).toContain(r.close);
        } else if (r.answer && !r.answer.ok) {
          expect(statusOf(r.answer.error!.code), `${op} ${JSON.stringify(params)} → ${JSON.stringify(r.answer.error)}`).toBeLessThan(500);
        }
      }),
      { numRuns: runs },
    );
    ws?.terminate();
  }

  it("answers every backup-session message with a result or a typed 4xx error", { timeout: LONG ? 900_000 : 120_000 }, async () => {
    await fuzzSession("backup", ["previous_backup_time", "previous", "dynamic_index", "fixed_index", "dynamic_chunk", "fixed_chunk", "dynamic_append", "fixed_append", "dynamic_close", "fixed_close", "blob", "finish", "speedtest"], RUNS.backup, "backupFrames");
  });

  it("answers every reader-session message with a result or a typed 4xx error", { timeout: LONG ? 600_000 : 60_000 }, async () => {
    await fuzzSession("reader", ["download", "chunk"], RUNS.reader, "readerFrames");
  });

  it("refuses bad session upgrade queries with a typed 4xx", { timeout: LONG ? 600_000 : 60_000 }, async () => {
    const query = fc.dictionary(fc.constantFrom("store", "ns", "backup-type", "backup-id", "backup-time", "debug", "x"), word, { maxKeys: 6 });
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("backup" as const, "reader" as const), query, async (route, q) => {
        const r = await openRaw(route, q);
        stats.upgrades++;
        if (r.ws) {
          r.ws.terminate();
          return;
        }
        expectTyped({ status: r.status!, body: r.body! }, `${route} ${JSON.stringify(q)}`);
      }),
      { numRuns: RUNS.upgrade },
    );
    // Still serving, and the fuzzing left no unfinished snapshot behind.
    await new Promise((r) => setTimeout(r, 500));
    const snaps = await t.client(t.admin).listSnapshots("store1");
    expect(snaps.filter((s) => !s.finished)).toEqual([]);
  });
});
