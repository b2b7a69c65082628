import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { encodeBlob } from "@cairn/format";
import { type Auth, CairnClient } from "@cairn/protocol";
import { setAcl } from "../src/acl.js";
import { createToken, createUser } from "../src/auth.js";
import { ConfigDir } from "../src/config.js";
import { type RunningServer, startServer } from "../src/server.js";
import { createDatastore } from "../src/stores.js";

export interface TestServer {
  srv: RunningServer;
  dir: string;
  config: ConfigDir;
  storePath: string;
  admin: Auth & { tokenId: string; secret: string };
  conn: { url: string; fingerprint: string };
  /** Makes a user with a token and a role on a path; returns its auth. */
  addUser(name: string, role?: string, aclPath?: string): { tokenId: string; secret: string };
  client(auth: Auth): CairnClient;
  close(): Promise<void>;
}

export async function startTestServer(opts: { workers?: number; sessionTimeoutMs?: number } = {}): Promise<TestServer> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "cairn-server-test-"));
  const config = new ConfigDir(path.join(dir, "config"));
  config.ensure();
  const storePath = path.join(dir, "store1");
  await createDatastore(config, "store1", storePath, { lazyChunkFolders: true });
  const addUser = (name: string, role?: string, aclPath = "/datastore/store1") => {
    const userid = `${name}@pbs`;
    createUser(config, userid, "password123");
    const tokenId = `${userid}!t`;
    const secret = createToken(config, tokenId);
    if (role) {
      setAcl(config, { path: aclPath, role, authId: userid });
      setAcl(config, { path: aclPath, role, authId: tokenId });
    }
    return { tokenId, secret };
  };
  const admin = addUser("admin", "Admin", "/");
  const srv = await startServer({ configDir: config.dir, listen: "127.0.0.1:0", workers: opts.workers ?? 1, lazyChunkFolders: true, sessionTimeoutMs: opts.sessionTimeoutMs });
  const conn = { url: srv.url, fingerprint: srv.fingerprint };
  const clients: CairnClient[] = [];
  return {
    srv,
    dir,
    config,
    storePath,
    admin,
    conn,
    addUser,
    client(auth) {
      const c = new CairnClient({ ...conn, auth });
      clients.push(c);
      return c;
    },
    async close() {
      await Promise.allSettled(clients.map((c) => c.close()));
      await srv.close();
      await fs.promises.rm(dir, { recursive: true, force: true });
    },
  };
}

export interface TestChunk {
  data: Buffer;
  digest: Buffer;
  blob: Buffer;
}

export function makeChunk(size: number, seed?: number): TestChunk {
  const data = seed === undefined ? randomBytes(size) : seededBytes(size, seed);
  return { data, digest: createHash("sha256").update(data).digest(), blob: encodeBlob(data, { compress: false }) };
}

export function seededBytes(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Opens a raw WebSocket to a session route (for malformed-input tests). */
export async function rawSession(t: TestServer, route: "backup" | "reader", query: Record<string, string | number>, auth = t.admin, wsOpts: { autoPong?: boolean } = {}) {
  const { connectTrusted, resolveEndpoint } = await import("@cairn/protocol");
  const { default: WebSocket } = await import("ws");
  const ep = resolveEndpoint({ ...t.conn, auth });
  const socket = await connectTrusted(ep.host, ep.port, ep.trust);
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]));
  const ws = new WebSocket(`wss://127.0.0.1:${ep.port}/api2/json/${route}?${qs}`, { createConnection: () => socket, headers: ep.authHeaders, ...wsOpts });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("unexpected-response", (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once("error", reject);
  });
  return ws;
}
