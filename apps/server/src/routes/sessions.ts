// The two upgrade routes, `/api2/json/backup` and `/api2/json/reader`. Everything that can fail
// (auth, privileges, owner, group lock, snapshot lock) happens in preHandler, before the
// upgrade, so the client gets a plain HTTP error (401/403/409…) with an error body; the socket
// is only handed to a session once all resources are held.

import { isDatastoreError } from "@cairn/datastore";
import { ProtocolError, SessionQuery } from "@cairn/protocol";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { datastorePath, isOwner, privileges } from "../acl.js";
import { BackupSession } from "../backup-session.js";
import { type ServerContext, callerOf } from "../context.js";
import { ReaderSession } from "../reader-session.js";
import type { TaskContext } from "../tasks.js";

type Attach = (ws: import("ws").WebSocket) => void;

export function registerSessionRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const pending = new WeakMap<FastifyRequest, Attach>();

  /** Runs the session as a task; `start` gets the task context and returns the attach function. */
  function asTask(req: FastifyRequest, type: string, worker: string, start: (t: TaskContext) => Promise<{ attach: Attach; cancel: () => Promise<void>; done: () => Promise<unknown> }>): Promise<void> {
    const caller = callerOf(req);
    return new Promise<void>((resolve, reject) => {
      ctx.tasks.start(type, worker, caller.authId, async (t) => {
        let s: Awaited<ReturnType<typeof start>>;
        try {
          s = await start(t);
        } catch (err) {
          reject(err);
          throw err;
        }
        let attached = false;
        const sock = req.raw.socket;
        const onEarlyClose = () => {
          if (!attached) void s.cancel();
        };
        sock.once("close", onEarlyClose);
        const entry = { shutdown: () => s.cancel() };
        pending.set(req, (ws) => {
          attached = true;
          sock.removeListener("close", onEarlyClose);
          s.attach(ws);
          entry.shutdown = async () => {
            await s.cancel();
          };
        });
        ctx.sessions.add(entry);
        resolve();
        try {
          if (sock.destroyed) await s.cancel();
          const outcome = await s.done();
          return String(outcome ?? "done");
        } finally {
          ctx.sessions.delete(entry);
        }
      });
    });
  }

  const requireUpgrade = (req: FastifyRequest) => {
    if (!req.ws) throw new ProtocolError("ERR_BAD_REQUEST", "this route must be opened as a WebSocket (Upgrade: websocket)");
  };

  app.route({
    method: "GET",
    url: "/api2/json/backup",
    schema: { querystring: SessionQuery },
    websocket: true,
    preHandler: async (req) => {
      requireUpgrade(req);
      const caller = callerOf(req);
      const q = req.query as SessionQuery;
      const ns = q.ns ?? "";
      const path = datastorePath(q.store, q.ns);
      if (!privileges(ctx.config, caller, path).has("Datastore.Backup")) {
        throw new ProtocolError("ERR_FORBIDDEN", `${caller.authId} lacks Datastore.Backup on ${path}`);
      }
      const ds = await ctx.stores.get(q.store);
      const group = { ns, type: q["backup-type"], id: q["backup-id"] };
      let owner = caller.authId;
      let existing: string | undefined;
      try {
        existing = ds.getOwner(group);
      } catch (err) {
        if (!isDatastoreError(err, "ERR_NOT_FOUND")) throw err;
      }
      if (existing !== undefined) {
        if (!isOwner(caller.authId, existing)) {
          throw new ProtocolError("ERR_NOT_OWNER", `backup group ${q["backup-type"]}/${q["backup-id"]} belongs to ${existing}, not ${caller.authId}`);
        }
        owner = existing;
      }
      const worker = `${q.store}:${ns ? `${ns}/` : ""}${q["backup-type"]}/${q["backup-id"]}`;
      await asTask(req, "backup", worker, async (t) => {
        let writer: Awaited<ReturnType<typeof ds.openBackup>>;
        try {
          writer = await ds.openBackup({ ns, type: q["backup-type"], id: q["backup-id"], time: q["backup-time"], owner, operation: `backup by ${caller.authId}` });
        } catch (err) {
          if (isDatastoreError(err, "ERR_LOCKED") && err.message.includes("group")) {
            throw new ProtocolError("ERR_BACKUP_RUNNING", `another backup of ${worker} is running: ${err.message}`, { cause: err });
          }
          throw err;
        }
        t.log(`backup of ${worker} at ${q["backup-time"]} started by ${caller.authId}${writer.base ? `, base snapshot ${writer.base.time}` : ""}`);
        let session: BackupSession | undefined;
        return {
          attach: (ws) => {
            session = new BackupSession(ws, writer, ctx.pool, t, req.log);
          },
          cancel: async () => {
            if (session) await session.shutdown();
            else await writer.abort().catch(() => {});
          },
          done: async () => {
            while (!session) {
              if (writer.state !== "open") return "aborted";
              await new Promise((r) => setTimeout(r, 20));
            }
            const outcome = await session.done;
            if (outcome === "aborted") throw new Error("backup aborted: connection closed before finish");
            return outcome;
          },
        };
      });
    },
    handler: (socket, req) => {
      const attach = pending.get(req);
      if (!attach) {
        socket.close(4500, "session was not prepared");
        return;
      }
      attach(socket);
    },
  });

  app.route({
    method: "GET",
    url: "/api2/json/reader",
    schema: { querystring: SessionQuery },
    websocket: true,
    preHandler: async (req) => {
      requireUpgrade(req);
      const caller = callerOf(req);
      const q = req.query as SessionQuery;
      const ns = q.ns ?? "";
      const path = datastorePath(q.store, q.ns);
      const privs = privileges(ctx.config, caller, path);
      const full = privs.has("Datastore.Read");
      if (!full && !privs.has("Datastore.Backup")) {
        throw new ProtocolError("ERR_FORBIDDEN", `${caller.authId} lacks Datastore.Read on ${path}`);
      }
      const ds = await ctx.stores.get(q.store);
      const snap = { ns, type: q["backup-type"], id: q["backup-id"], time: q["backup-time"] };
      if (!full) {
        let owner: string | undefined;
        try {
          owner = ds.getOwner(snap);
        } catch (err) {
          if (!isDatastoreError(err, "ERR_NOT_FOUND")) throw err;
        }
        if (!isOwner(caller.authId, owner)) {
          throw new ProtocolError("ERR_NOT_OWNER", `${caller.authId} may read only its own backup groups`);
        }
      }
      const info = ds.snapshotInfo(snap);
      if (!info.finished) throw new ProtocolError("ERR_NOT_FOUND", "snapshot is not finished");
      const worker = `${q.store}:${ns ? `${ns}/` : ""}${q["backup-type"]}/${q["backup-id"]}/${q["backup-time"]}`;
      await asTask(req, "reader", worker, async (t) => {
        const lock = await ds.lockSnapshot(snap, { mode: "shared", operation: `reader for ${caller.authId}` });
        let session: ReaderSession | undefined;
        let released = false;
        return {
          attach: (ws) => {
            session = new ReaderSession(ws, ds, snap, lock, t, req.log);
          },
          cancel: async () => {
            if (session) await session.shutdown();
            else if (!released) {
              released = true;
              lock.release();
            }
          },
          done: async () => {
            while (!session) {
              if (released) return "cancelled";
              await new Promise((r) => setTimeout(r, 20));
            }
            await session.done;
            return "reader closed";
          },
        };
      });
    },
    handler: (socket, req) => {
      const attach = pending.get(req);
      if (!attach) {
        socket.close(4500, "session was not prepared");
        return;
      }
      attach(socket);
    },
  });
}
