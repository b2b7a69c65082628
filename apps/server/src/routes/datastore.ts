// Datastore routes: list/create stores, usage, groups, snapshots, namespaces, forget, prune,
// GC, verify, protected flag, notes, status. Audit/Read/Modify privileges see every group;
// DatastoreBackup callers see and act on their own groups only (owner check, as PBS).

import fs from "node:fs";
import { type DataStore, type SnapshotInfo as StoreSnapshotInfo, snapshotToString } from "@cairn/datastore";
import {
  type DatastoreStatus,
  DatastoreRoutes,
  type GcStatus,
  type GroupInfo,
  type PruneEntry,
  ProtocolError,
  type SnapshotInfo,
} from "@cairn/protocol";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { datastorePath, hasPriv, isOwner, type Priv, privileges, requirePriv } from "../acl.js";
import { type Caller, userOf } from "../auth.js";
import { type ServerContext, callerOf } from "../context.js";
import { nonNegative } from "../stores.js";

type Sel = { ns?: string; "backup-type": "vm" | "ct" | "host"; "backup-id": string; "backup-time": number };
type GroupSel = Omit<Sel, "backup-time">;

export function gcStatusToApi(s: ReturnType<DataStore["lastGcStatus"]>): GcStatus | null {
  if (!s) return null;
  return {
    upid: s.upid,
    "index-file-count": s.indexFileCount,
    "index-data-bytes": s.indexDataBytes,
    "removed-chunks": s.removedChunks,
    "removed-bytes": s.removedBytes,
    "pending-chunks": s.pendingChunks,
    "pending-bytes": s.pendingBytes,
    "removed-bad": s.removedBad,
    "still-bad": s.stillBad,
    "disk-chunks": s.diskChunks,
    "disk-bytes": s.diskBytes,
    "dedup-factor": s.dedupFactor,
    "average-chunk-size": s.averageChunkSize,
    "start-time": Math.floor(s.startTime / 1000),
    "end-time": Math.floor(s.endTime / 1000),
  };
}

function snapshotToApi(s: StoreSnapshotInfo, owner: string | undefined): SnapshotInfo {
  return {
    "backup-type": s.type,
    "backup-id": s.id,
    "backup-time": s.time,
    files: s.files.map((f) => ({ filename: f.filename, size: f.size, "crypt-mode": f.cryptMode })),
    size: s.size,
    owner,
    protected: s.protected,
    finished: s.finished,
    verification: s.verifyState ? { state: s.verifyState.state, upid: s.verifyState.upid } : undefined,
    comment: s.notes?.split("\n")[0],
  };
}

export async function statfsUsage(path: string): Promise<{ total: number; used: number; avail: number }> {
  const st = await fs.promises.statfs(path);
  const total = st.blocks * st.bsize;
  const avail = st.bavail * st.bsize;
  return { total, used: total - st.bfree * st.bsize, avail };
}

export function registerDatastoreRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { config, stores, tasks } = ctx;

  /** Opens the store after checking that the caller holds one of `privs` (or Backup) there. */
  async function access(req: FastifyRequest, ns: string | undefined, ...privs: Priv[]) {
    const caller = callerOf(req);
    const { store } = req.params as { store: string };
    const path = datastorePath(store, ns);
    const p = privileges(config, caller, path);
    const full = privs.some((x) => p.has(x));
    // Privileges first, so that callers without any cannot probe which stores exist.
    if (!full && !p.has("Datastore.Backup")) {
      throw new ProtocolError("ERR_FORBIDDEN", `${caller.authId} lacks ${privs.join(" or ")} on ${path}`);
    }
    stores.entry(store);
    const ds = await stores.get(store);
    // a listing of a namespace that is not there is an error, not an empty list (as a backup into it)
    if (ns && !ds.namespaceExists(ns)) throw new ProtocolError("ERR_NOT_FOUND", `namespace "${ns}" does not exist in datastore ${store}`);
    return { caller, ds, full, storeName: store, path };
  }

  function requireOwnerUnlessFull(ds: DataStore, caller: Caller, full: boolean, g: GroupSel): void {
    if (full) return;
    let owner: string | undefined;
    try {
      owner = ds.getOwner({ ns: g.ns ?? "", type: g["backup-type"], id: g["backup-id"] });
    } catch (err) {
      if ((err as { code?: string }).code === "ERR_NOT_FOUND") throw new ProtocolError("ERR_NOT_FOUND", `backup group ${g["backup-type"]}/${g["backup-id"]} does not exist`);
      throw err;
    }
    if (owner === undefined) throw new ProtocolError("ERR_NOT_FOUND", `backup group ${g["backup-type"]}/${g["backup-id"]} does not exist`);
    if (!isOwner(caller.authId, owner)) {
      throw new ProtocolError("ERR_NOT_OWNER", `${caller.authId} is not the owner of backup group ${g["backup-type"]}/${g["backup-id"]} (owner: ${owner})`);
    }
  }

  const ref = (s: Sel) => ({ ns: s.ns ?? "", type: s["backup-type"], id: s["backup-id"], time: s["backup-time"] });

  /**
   * Whether the caller has any privilege on store `n` or on a namespace below it: as in PBS, a
   * user whose ACL names only `/datastore/n/ns1` still sees the store in the list.
   */
  const seesStore = (caller: Caller, n: string): boolean => {
    const base = datastorePath(n);
    if (privileges(config, caller, base).size > 0) return true;
    const ids = new Set([caller.authId, userOf(caller.authId)]);
    return config.acl().some((e) => ids.has(e.authId) && e.path.startsWith(`${base}/`) && privileges(config, caller, e.path).size > 0);
  };

  app.route({
    ...DatastoreRoutes.list,
    handler: async (req) => {
      const caller = callerOf(req);
      const data = stores
        .names()
        .filter((n) => seesStore(caller, n))
        .map((n) => ({ store: n, path: hasPriv(config, caller, "/", "Sys.Audit") ? stores.entry(n).path : undefined, comment: stores.entry(n).comment }));
      return { data };
    },
  });

  app.route({
    ...DatastoreRoutes.create,
    handler: async (req) => {
      requirePriv(config, callerOf(req), "/", "Sys.Modify");
      const b = req.body as { name: string; path: string; comment?: string };
      await stores.create(b.name, b.path, b.comment);
      return { data: null };
    },
  });

  app.route({
    ...DatastoreRoutes.usage,
    handler: async (req) => {
      const caller = callerOf(req);
      const data = [];
      for (const n of stores.names()) {
        if (!seesStore(caller, n)) continue;
        data.push({ store: n, ...(await statfsUsage(stores.entry(n).path)) });
      }
      return { data };
    },
  });

  app.route({
    ...DatastoreRoutes.groups,
    handler: async (req) => {
      const { ns } = req.query as { ns?: string };
      const { ds, caller, full } = await access(req, ns, "Datastore.Audit", "Datastore.Read", "Datastore.Modify");
      const data: GroupInfo[] = ds
        .listGroups(ns ?? "")
        .filter((g) => full || isOwner(caller.authId, g.owner))
        .map((g) => ({
          "backup-type": g.type,
          "backup-id": g.id,
          "last-backup": g.lastBackup ?? null,
          "backup-count": g.snapshotCount,
          owner: g.owner,
          comment: ds.getGroupNotes(g)?.split("\n")[0],
        }));
      return { data };
    },
  });

  app.route({
    ...DatastoreRoutes.snapshots,
    handler: async (req) => {
      const q = req.query as { ns?: string; "backup-type"?: "vm" | "ct" | "host"; "backup-id"?: string };
      const { ds, caller, full } = await access(req, q.ns, "Datastore.Audit", "Datastore.Read", "Datastore.Modify");
      const data: SnapshotInfo[] = [];
      for (const g of ds.listGroups(q.ns ?? "")) {
        if (q["backup-type"] && g.type !== q["backup-type"]) continue;
        if (q["backup-id"] && g.id !== q["backup-id"]) continue;
        if (!full && !isOwner(caller.authId, g.owner)) {
          // one group asked for by name: say whose it is rather than answer an empty list
          if (q["backup-type"] && q["backup-id"]) throw new ProtocolError("ERR_NOT_OWNER", `${caller.authId} is not the owner of backup group ${g.type}/${g.id}`);
          continue;
        }
        for (const s of ds.listSnapshots(g)) data.push(snapshotToApi(s, g.owner));
      }
      return { data };
    },
  });

  app.route({
    ...DatastoreRoutes.forget,
    handler: async (req) => {
      const q = req.query as Sel;
      const { ds, caller, full } = await access(req, q.ns, "Datastore.Modify");
      requireOwnerUnlessFull(ds, caller, full, q);
      await ds.forgetSnapshot(ref(q), { operation: `forget by ${caller.authId}` });
      return { data: null };
    },
  });

  app.route({
    ...DatastoreRoutes.namespaces,
    handler: async (req) => {
      const { parent } = req.query as { parent?: string };
      const { ds } = await access(req, parent, "Datastore.Audit", "Datastore.Read", "Datastore.Modify");
      return { data: ds.listNamespaces(parent ?? "").map((ns) => ({ ns })) };
    },
  });

  app.route({
    ...DatastoreRoutes.createNamespace,
    handler: async (req) => {
      const b = req.body as { name: string; parent?: string };
      const { storeName, ds } = await access(req, b.parent, "Datastore.Modify");
      requirePriv(config, callerOf(req), datastorePath(storeName, b.parent), "Datastore.Modify");
      ds.createNamespace(b.parent ? `${b.parent}/${b.name}` : b.name);
      return { data: null };
    },
  });

  app.route({
    ...DatastoreRoutes.status,
    handler: async (req) => {
      const { ds, caller, storeName } = await access(req, undefined, "Datastore.Audit", "Datastore.Modify");
      const counts: DatastoreStatus["counts"] = {};
      for (const ns of ds.listAllNamespaces()) {
        // each namespace with the caller's privileges there (a NoAccess or unpropagated entry hides it)
        const p = privileges(config, caller, datastorePath(storeName, ns));
        const full = p.has("Datastore.Audit") || p.has("Datastore.Modify");
        if (!full && !p.has("Datastore.Backup")) continue;
        for (const g of ds.listGroups(ns)) {
          if (!full && !isOwner(caller.authId, g.owner)) continue;
          const c = (counts[g.type] ??= { groups: 0, snapshots: 0 });
          c.groups++;
          c.snapshots += g.snapshotCount;
        }
      }
      const gc = gcStatusToApi(ds.lastGcStatus());
      const data: DatastoreStatus = { ...(await statfsUsage(ds.root)), counts, "gc-status": gc, "dedup-factor": gc?.["dedup-factor"] ?? null };
      return { data };
    },
  });

  app.route({
    ...DatastoreRoutes.prune,
    handler: async (req) => {
      const b = req.body as GroupSel & Record<string, number | boolean | undefined>;
      const { ds, caller, full, storeName } = await access(req, b.ns, "Datastore.Modify", "Datastore.Prune");
      requireOwnerUnlessFull(ds, caller, full, b);
      const keep = {
        keepLast: b["keep-last"] as number | undefined,
        keepHourly: b["keep-hourly"] as number | undefined,
        keepDaily: b["keep-daily"] as number | undefined,
        keepWeekly: b["keep-weekly"] as number | undefined,
        keepMonthly: b["keep-monthly"] as number | undefined,
        keepYearly: b["keep-yearly"] as number | undefined,
      };
      const dryRun = b["dry-run"] === true;
      const result = await ds.prune({ ns: b.ns ?? "", type: b["backup-type"], id: b["backup-id"] }, keep, { dryRun });
      const failed = new Map(result.notRemoved.map((f) => [f.snapshot.time, f.error]));
      const data: PruneEntry[] = result.decisions.map((d) => ({
        "backup-type": d.snapshot.type,
        "backup-id": d.snapshot.id,
        "backup-time": d.snapshot.time,
        keep: d.keep,
        reason: d.reason,
        protected: d.snapshot.protected,
        ...(failed.has(d.snapshot.time) ? { error: failed.get(d.snapshot.time) } : {}),
      }));
      for (const w of result.warnings) req.log.warn({ store: storeName }, `prune: ${w}`);
      return { data };
    },
  });

  app.route({
    ...DatastoreRoutes.startGc,
    handler: async (req) => {
      const { ds, caller, storeName } = await access(req, undefined, "Datastore.Modify");
      requirePriv(config, caller, datastorePath(storeName), "Datastore.Modify");
      if (ctx.handingOver) throw new ProtocolError("ERR_SHUTDOWN", "the server is restarting; start garbage collection again in a moment");
      const upid = tasks.start("garbage_collection", storeName, caller.authId, async (t) => {
        const entry = stores.entry(storeName);
        // as PBS's task log: each phase's start, then a line per 10% done (a long GC shows it is moving)
        let logged = { phase: "", decile: -1 };
        const s = await ds.garbageCollection({
          atimeSafetySeconds: nonNegative(entry.gcAtimeSafetySeconds),
          graceSeconds: nonNegative(entry.gcGraceSeconds),
          signal: t.signal,
          upid: t.upid,
          onProgress: (p) => {
            t.progress(p.phase === "mark" ? p.percent / 200 : 0.5 + p.percent / 200);
            if (logged.phase !== p.phase) {
              logged = { phase: p.phase, decile: 0 };
              t.log(p.phase === "mark" ? `phase 1: marking the chunks of ${p.total} index files` : "phase 2: sweeping unused chunks");
            }
            const decile = Math.floor(p.percent / 10);
            if (decile > logged.decile && p.total > 0) {
              logged.decile = decile;
              t.log(`${p.phase === "mark" ? "marked" : "swept"} ${decile * 10}% (${p.done} of ${p.total} ${p.phase === "mark" ? "index files" : "chunk folders"})`);
            }
          },
        });
        for (const w of s.warnings) t.log(`WARN: ${w}`);
        const line = `removed ${s.removedChunks} chunks${s.removedTempChunks ? ` and ${s.removedTempChunks} stale temp files` : ""} (${s.removedBytes} bytes), pending ${s.pendingChunks}, kept ${s.diskChunks} chunks (${s.diskBytes} bytes), dedup factor ${s.dedupFactor.toFixed(2)}`;
        t.log(line);
        return line;
      });
      return { data: upid };
    },
  });

  app.route({
    ...DatastoreRoutes.gcStatus,
    handler: async (req) => {
      const { ds } = await access(req, undefined, "Datastore.Audit", "Datastore.Modify");
      return { data: gcStatusToApi(ds.lastGcStatus()) };
    },
  });

  app.route({
    ...DatastoreRoutes.verify,
    handler: async (req) => {
      const b = req.body as Partial<Sel> & { "ignore-verified"?: boolean; "outdated-after"?: number };
      const { ds, caller, full, storeName } = await access(req, b.ns, "Datastore.Verify", "Datastore.Modify");
      let snapshots: Array<{ ns: string; type: "vm" | "ct" | "host"; id: string; time: number }> | undefined;
      // a part of a selection is not "everything": {backup-time: 5} alone verified the whole store
      if ((b["backup-type"] === undefined) !== (b["backup-id"] === undefined) || (b["backup-time"] !== undefined && b["backup-id"] === undefined)) {
        throw new ProtocolError("ERR_BAD_REQUEST", "give backup-type and backup-id together (and backup-time only with both), or none of them to verify everything");
      }
      if (b["backup-type"] && b["backup-id"]) {
        const g = { ns: b.ns, "backup-type": b["backup-type"], "backup-id": b["backup-id"] };
        requireOwnerUnlessFull(ds, caller, full, g);
        const all = ds.listSnapshotRefs({ ns: b.ns ?? "", type: g["backup-type"], id: g["backup-id"] });
        if (all.length === 0) throw new ProtocolError("ERR_NOT_FOUND", `group ${g["backup-type"]}/${g["backup-id"]} has no snapshots`);
        snapshots = b["backup-time"] === undefined ? all : all.filter((s) => s.time === b["backup-time"]);
        if (b["backup-time"] !== undefined && snapshots.length === 0) throw new ProtocolError("ERR_NOT_FOUND", "snapshot does not exist");
      } else if (!full) {
        throw new ProtocolError("ERR_FORBIDDEN", `${caller.authId} may verify only its own groups (give backup-type and backup-id)`);
      } else if (b.ns) {
        snapshots = ds.listGroups(b.ns).flatMap((g) => ds.listSnapshotRefs(g));
      } else {
        // the whole store: only the namespaces where the caller may verify (an ACL below the
        // store can take a namespace away)
        const mayVerify = (ns: string) => {
          const p = privileges(config, caller, datastorePath(storeName, ns));
          return p.has("Datastore.Verify") || p.has("Datastore.Modify");
        };
        const all = ds.listAllNamespaces();
        const allowed = all.filter(mayVerify);
        if (allowed.length < all.length) snapshots = allowed.flatMap((ns) => ds.listGroups(ns).flatMap((g) => ds.listSnapshotRefs(g)));
      }
      const worker = b["backup-id"] ? `${storeName}-${b["backup-type"]}-${b["backup-id"]}` : storeName;
      const upid = tasks.start("verify", worker, caller.authId, async (t) => {
        const r = await ds.verify({
          snapshots,
          signal: t.signal,
          upid: t.upid,
          skipVerifiedWithinDays: b["ignore-verified"] ? (b["outdated-after"] ?? 36500) : undefined,
          onProgress: (p) => t.progress(p.total > 0 ? p.done / p.total : 1),
          onSnapshot: (s) => t.log(`${snapshotToString(s.snapshot)}: ${s.outcome}${s.errors.length ? ` (${s.errors.join("; ")})` : ""}`),
        });
        for (const c of r.corruptChunks) t.log(`corrupt chunk ${c}`);
        for (const c of r.missingChunks) t.log(`missing chunk ${c}`);
        const line = `checked ${r.chunksChecked} chunks, ${r.corruptChunks.length} corrupt, ${r.missingChunks.length} missing`;
        t.log(line);
        if (!r.ok) throw new Error(`verification failed: ${line}`);
        return line;
      });
      return { data: upid };
    },
  });

  app.route({
    ...DatastoreRoutes.getProtected,
    handler: async (req) => {
      const q = req.query as Sel;
      const { ds, caller, full } = await access(req, q.ns, "Datastore.Audit", "Datastore.Read", "Datastore.Modify");
      requireOwnerUnlessFull(ds, caller, full, q);
      ds.snapshotInfo(ref(q));
      return { data: ds.isProtected(ref(q)) };
    },
  });

  app.route({
    ...DatastoreRoutes.setProtected,
    handler: async (req) => {
      const b = req.body as Sel & { protected: boolean };
      const { ds, caller, full } = await access(req, b.ns, "Datastore.Modify");
      requireOwnerUnlessFull(ds, caller, full, b);
      await ds.setProtected(ref(b), b.protected);
      return { data: null };
    },
  });

  app.route({
    ...DatastoreRoutes.getNotes,
    handler: async (req) => {
      const q = req.query as Sel;
      const { ds, caller, full } = await access(req, q.ns, "Datastore.Audit", "Datastore.Read", "Datastore.Modify");
      requireOwnerUnlessFull(ds, caller, full, q);
      return { data: ds.snapshotInfo(ref(q)).notes ?? "" };
    },
  });

  app.route({
    ...DatastoreRoutes.setNotes,
    handler: async (req) => {
      const b = req.body as Sel & { notes: string };
      const { ds, caller, full } = await access(req, b.ns, "Datastore.Modify");
      requireOwnerUnlessFull(ds, caller, full, b);
      await ds.setSnapshotNotes(ref(b), b.notes);
      return { data: null };
    },
  });
}
