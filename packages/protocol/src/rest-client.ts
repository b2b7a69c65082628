// CairnClient: typed calls of the management API over undici. The TLS connector checks the
// pinned fingerprint before undici writes the request (and its token), like the session client.
// Answers are `{data}`; error bodies become ProtocolError with the server's code and status.

import type { TLSSocket } from "node:tls";
import type { Static } from "@sinclair/typebox";
import type { Client, buildConnector } from "undici";
import { type Auth, type ConnectOptions, type Endpoint, hostForUrl, resolveEndpoint } from "./connection.js";
import { ProtocolError, errorFromBody } from "./errors.js";
import type { AclEntry, TicketResult, TokenResult, UserInfo } from "./schemas/access.js";
import type { GroupSelector, SnapshotSelector } from "./schemas/common.js";
import type {
  DatastoreInfo,
  DatastoreStatus,
  DatastoreUsage,
  GcStatus,
  GroupInfo,
  KeepOptions,
  PruneEntry,
  SnapshotInfo,
  VersionInfo,
} from "./schemas/datastore-api.js";
import type { TaskStatus } from "./schemas/tasks.js";
import { checkPeerFingerprint } from "./tls-pinning.js";

type Query = Record<string, string | number | boolean | undefined>;

export interface VerifyOptions {
  ns?: string;
  "backup-type"?: "vm" | "ct" | "host";
  "backup-id"?: string;
  "backup-time"?: number;
  "ignore-verified"?: boolean;
  "outdated-after"?: number;
}

export class CairnClient {
  /** undici is loaded on the first request: a backup or restore with a token never needs it. */
  #client: Promise<Client> | undefined;
  readonly #ep: Endpoint;

  constructor(opts: ConnectOptions) {
    this.#ep = resolveEndpoint(opts);
  }

  async #open(): Promise<Client> {
    const { Client, buildConnector } = await import("undici");
    const pin = this.#ep.trust.fingerprint;
    const base = buildConnector({ rejectUnauthorized: pin === undefined, ca: pin === undefined ? this.#ep.trust.ca : undefined });
    const connect: buildConnector.connector = (options, callback) =>
      base(options, (err, socket) => {
        if (err || !socket) return callback(err ?? new Error("no socket"), null);
        if (pin !== undefined) {
          try {
            checkPeerFingerprint(socket as TLSSocket, pin);
          } catch (e) {
            socket.destroy();
            return callback(e as Error, null);
          }
        }
        callback(null, socket);
      });
    return new Client(`https://${hostForUrl(this.#ep.host)}:${this.#ep.port}`, { connect });
  }

  /** Logs in with a password; returns a client that uses the ticket. */
  static async login(opts: Omit<ConnectOptions, "auth"> & { username: string; password: string }): Promise<{ client: CairnClient; ticket: TicketResult }> {
    const anon = new CairnClient({ ...opts, auth: { ticket: "" } });
    try {
      const ticket = await anon.request<TicketResult>("POST", "/api2/json/access/ticket", { body: { username: opts.username, password: opts.password } });
      return { client: new CairnClient({ ...opts, auth: { ticket: ticket.ticket } satisfies Auth }), ticket };
    } finally {
      await anon.close();
    }
  }

  async request<T>(method: string, path: string, opts: { query?: Query; body?: unknown } = {}): Promise<T> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) qs.set(k, String(v));
    const headers: Record<string, string> = { ...this.#ep.authHeaders, accept: "application/json" };
    if (opts.body !== undefined) headers["content-type"] = "application/json";
    let res: Awaited<ReturnType<Client["request"]>>;
    try {
      this.#client ??= this.#open();
      res = await (await this.#client).request({
        method: method as "GET",
        path: qs.size > 0 ? `${path}?${qs}` : path,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      });
    } catch (err) {
      if (err instanceof ProtocolError) throw err;
      const cause = (err as { cause?: unknown }).cause;
      if (cause instanceof ProtocolError) throw cause;
      throw new ProtocolError("ERR_CONNECTION", `${method} ${path}: ${(err as Error).message}`, { cause: err });
    }
    const text = await res.body.text();
    let json: unknown;
    try {
      json = text === "" ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (res.statusCode >= 400) throw errorFromBody(res.statusCode, json);
    return (json as { data: T } | undefined)?.data as T;
  }

  version(): Promise<Static<typeof VersionInfo>> {
    return this.request("GET", "/api2/json/version");
  }
  datastoreUsage(): Promise<DatastoreUsage[]> {
    return this.request("GET", "/api2/json/status/datastore-usage");
  }
  listDatastores(): Promise<DatastoreInfo[]> {
    return this.request("GET", "/api2/json/admin/datastore");
  }
  createDatastore(name: string, path: string, comment?: string): Promise<null> {
    return this.request("POST", "/api2/json/config/datastore", { body: { name, path, comment } });
  }
  listGroups(store: string, ns?: string): Promise<GroupInfo[]> {
    return this.request("GET", `/api2/json/admin/datastore/${enc(store)}/groups`, { query: { ns } });
  }
  listSnapshots(store: string, filter: { ns?: string; "backup-type"?: string; "backup-id"?: string } = {}): Promise<SnapshotInfo[]> {
    return this.request("GET", `/api2/json/admin/datastore/${enc(store)}/snapshots`, { query: filter });
  }
  forgetSnapshot(store: string, snap: SnapshotSelector): Promise<null> {
    return this.request("DELETE", `/api2/json/admin/datastore/${enc(store)}/snapshots`, { query: snap });
  }
  listNamespaces(store: string, parent?: string): Promise<Array<{ ns: string }>> {
    return this.request("GET", `/api2/json/admin/datastore/${enc(store)}/namespace`, { query: { parent } });
  }
  createNamespace(store: string, name: string, parent?: string): Promise<null> {
    return this.request("POST", `/api2/json/admin/datastore/${enc(store)}/namespace`, { body: { name, parent } });
  }
  datastoreStatus(store: string): Promise<DatastoreStatus> {
    return this.request("GET", `/api2/json/admin/datastore/${enc(store)}/status`);
  }
  prune(store: string, group: GroupSelector, keep: KeepOptions, dryRun = false): Promise<PruneEntry[]> {
    return this.request("POST", `/api2/json/admin/datastore/${enc(store)}/prune`, { body: { ...group, ...keep, "dry-run": dryRun } });
  }
  /** Starts GC; returns the task id (UPID). */
  startGc(store: string): Promise<string> {
    return this.request("POST", `/api2/json/admin/datastore/${enc(store)}/gc`);
  }
  gcStatus(store: string): Promise<GcStatus | null> {
    return this.request("GET", `/api2/json/admin/datastore/${enc(store)}/gc`);
  }
  /** Starts a verify task; returns its UPID. */
  verify(store: string, opts: VerifyOptions = {}): Promise<string> {
    return this.request("POST", `/api2/json/admin/datastore/${enc(store)}/verify`, { body: opts });
  }
  getProtected(store: string, snap: SnapshotSelector): Promise<boolean> {
    return this.request("GET", `/api2/json/admin/datastore/${enc(store)}/protected`, { query: snap });
  }
  setProtected(store: string, snap: SnapshotSelector, value: boolean): Promise<null> {
    return this.request("PUT", `/api2/json/admin/datastore/${enc(store)}/protected`, { body: { ...snap, protected: value } });
  }
  getNotes(store: string, snap: SnapshotSelector): Promise<string> {
    return this.request("GET", `/api2/json/admin/datastore/${enc(store)}/notes`, { query: snap });
  }
  setNotes(store: string, snap: SnapshotSelector, notes: string): Promise<null> {
    return this.request("PUT", `/api2/json/admin/datastore/${enc(store)}/notes`, { body: { ...snap, notes } });
  }
  listTasks(opts: { running?: boolean; limit?: number } = {}): Promise<TaskStatus[]> {
    return this.request("GET", "/api2/json/nodes/localhost/tasks", { query: opts });
  }
  taskStatus(upid: string): Promise<TaskStatus> {
    return this.request("GET", `/api2/json/nodes/localhost/tasks/${enc(upid)}/status`);
  }
  taskLog(upid: string, start = 0): Promise<Array<{ n: number; t: string }>> {
    return this.request("GET", `/api2/json/nodes/localhost/tasks/${enc(upid)}/log`, { query: { start } });
  }
  stopTask(upid: string): Promise<null> {
    return this.request("DELETE", `/api2/json/nodes/localhost/tasks/${enc(upid)}`);
  }
  /** Polls a task until it is no longer running. */
  async waitTask(upid: string, pollMs = 100, timeoutMs = 600_000): Promise<TaskStatus> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.taskStatus(upid);
      if (s.state !== "running") return s;
      if (Date.now() > until) throw new ProtocolError("ERR_INTERNAL", `task ${upid} still running after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }
  listUsers(): Promise<UserInfo[]> {
    return this.request("GET", "/api2/json/access/users");
  }
  createUser(userid: string, password?: string, comment?: string): Promise<null> {
    return this.request("POST", "/api2/json/access/users", { body: { userid, password, comment } });
  }
  /** Creates an API token; the secret in `value` is shown only this once. */
  createToken(userid: string, name: string): Promise<TokenResult> {
    return this.request("POST", `/api2/json/access/users/${enc(userid)}/token/${enc(name)}`);
  }
  getAcl(): Promise<AclEntry[]> {
    return this.request("GET", "/api2/json/access/acl");
  }
  setAcl(entry: { path: string; role: string; "auth-id": string; propagate?: boolean; delete?: boolean }): Promise<null> {
    return this.request("PUT", "/api2/json/access/acl", { body: entry });
  }

  async close(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    if (client) await (await client).close();
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}
