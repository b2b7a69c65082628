// Datastore management routes: stores, groups, snapshots, namespaces, forget, prune, GC, verify,
// protected flag, notes and status (spec: protocol.md "Management API"). Keys are kebab-case as
// in PBS; every answer is `{data: …}`.

import { type Static, Type } from "@sinclair/typebox";
import { BackupId, BackupTime, BackupType, Data, GroupSelector, Namespace, SnapshotSelector, StoreName } from "./common.js";

const Count = Type.Integer({ minimum: 0 });
const StoreParams = Type.Object({ store: StoreName });

export const VersionInfo = Type.Object({ version: Type.String(), release: Type.String(), repoid: Type.String() });
export const DatastoreInfo = Type.Object({ store: StoreName, path: Type.Optional(Type.String()), comment: Type.Optional(Type.String()) });
export type DatastoreInfo = Static<typeof DatastoreInfo>;
export const DatastoreUsage = Type.Object({ store: StoreName, total: Count, used: Count, avail: Count });
export type DatastoreUsage = Static<typeof DatastoreUsage>;

export const GroupInfo = Type.Object({
  "backup-type": BackupType,
  "backup-id": BackupId,
  "last-backup": Type.Union([BackupTime, Type.Null()]),
  "backup-count": Count,
  owner: Type.Optional(Type.String()),
  comment: Type.Optional(Type.String()),
});
export type GroupInfo = Static<typeof GroupInfo>;

export const FileInfo = Type.Object({ filename: Type.String(), size: Type.Optional(Count), "crypt-mode": Type.Optional(Type.String()) });

export const SnapshotInfo = Type.Object({
  "backup-type": BackupType,
  "backup-id": BackupId,
  "backup-time": BackupTime,
  files: Type.Array(FileInfo),
  size: Type.Optional(Count),
  owner: Type.Optional(Type.String()),
  protected: Type.Boolean(),
  finished: Type.Boolean(),
  verification: Type.Optional(Type.Object({ state: Type.String(), upid: Type.Optional(Type.String()) })),
  comment: Type.Optional(Type.String()),
});
export type SnapshotInfo = Static<typeof SnapshotInfo>;

export const GcStatus = Type.Object(
  {
    upid: Type.Optional(Type.String()),
    "index-file-count": Type.Optional(Count),
    "index-data-bytes": Type.Optional(Count),
    "removed-chunks": Type.Optional(Count),
    "removed-bytes": Type.Optional(Count),
    "pending-chunks": Type.Optional(Count),
    "pending-bytes": Type.Optional(Count),
    "removed-bad": Type.Optional(Count),
    "still-bad": Type.Optional(Count),
    "disk-chunks": Type.Optional(Count),
    "disk-bytes": Type.Optional(Count),
    "dedup-factor": Type.Optional(Type.Number()),
    "average-chunk-size": Type.Optional(Type.Number()),
    "start-time": Type.Optional(Type.Number()),
    "end-time": Type.Optional(Type.Number()),
  },
  { additionalProperties: true },
);
export type GcStatus = Static<typeof GcStatus>;

export const DatastoreStatus = Type.Object({
  total: Count,
  used: Count,
  avail: Count,
  counts: Type.Record(Type.String(), Type.Object({ groups: Count, snapshots: Count })),
  "gc-status": Type.Union([GcStatus, Type.Null()]),
  "dedup-factor": Type.Union([Type.Number(), Type.Null()]),
});
export type DatastoreStatus = Static<typeof DatastoreStatus>;

export const KeepOptions = Type.Object({
  "keep-last": Type.Optional(Count),
  "keep-hourly": Type.Optional(Count),
  "keep-daily": Type.Optional(Count),
  "keep-weekly": Type.Optional(Count),
  "keep-monthly": Type.Optional(Count),
  "keep-yearly": Type.Optional(Count),
});
export type KeepOptions = Static<typeof KeepOptions>;

export const PruneEntry = Type.Object({
  "backup-type": BackupType,
  "backup-id": BackupId,
  "backup-time": BackupTime,
  keep: Type.Boolean(),
  reason: Type.Optional(Type.String()),
  protected: Type.Optional(Type.Boolean()),
  /** Set when the snapshot was to be removed but could not be (locked by a restore, a verify…). */
  error: Type.Optional(Type.String()),
});
export type PruneEntry = Static<typeof PruneEntry>;

export const NamespaceInfo = Type.Object({ ns: Type.String() });

export const DatastoreRoutes = {
  version: { method: "GET", url: "/api2/json/version", schema: { response: { 200: Data(VersionInfo) } } },
  usage: {
    method: "GET",
    url: "/api2/json/status/datastore-usage",
    schema: { response: { 200: Data(Type.Array(DatastoreUsage)) } },
  },
  list: { method: "GET", url: "/api2/json/admin/datastore", schema: { response: { 200: Data(Type.Array(DatastoreInfo)) } } },
  create: {
    method: "POST",
    url: "/api2/json/config/datastore",
    schema: {
      body: Type.Object({ name: StoreName, path: Type.String({ minLength: 1, maxLength: 4096 }), comment: Type.Optional(Type.String({ maxLength: 1024 })) }),
      response: { 200: Data(Type.Null()) },
    },
  },
  groups: {
    method: "GET",
    url: "/api2/json/admin/datastore/:store/groups",
    schema: { params: StoreParams, querystring: Type.Object({ ns: Type.Optional(Namespace) }), response: { 200: Data(Type.Array(GroupInfo)) } },
  },
  snapshots: {
    method: "GET",
    url: "/api2/json/admin/datastore/:store/snapshots",
    schema: {
      params: StoreParams,
      querystring: Type.Object({ ns: Type.Optional(Namespace), "backup-type": Type.Optional(BackupType), "backup-id": Type.Optional(BackupId) }),
      response: { 200: Data(Type.Array(SnapshotInfo)) },
    },
  },
  forget: {
    method: "DELETE",
    url: "/api2/json/admin/datastore/:store/snapshots",
    schema: { params: StoreParams, querystring: SnapshotSelector, response: { 200: Data(Type.Null()) } },
  },
  namespaces: {
    method: "GET",
    url: "/api2/json/admin/datastore/:store/namespace",
    schema: { params: StoreParams, querystring: Type.Object({ parent: Type.Optional(Namespace) }), response: { 200: Data(Type.Array(NamespaceInfo)) } },
  },
  createNamespace: {
    method: "POST",
    url: "/api2/json/admin/datastore/:store/namespace",
    schema: {
      params: StoreParams,
      body: Type.Object({ name: BackupId, parent: Type.Optional(Namespace) }),
      response: { 200: Data(Type.Null()) },
    },
  },
  status: {
    method: "GET",
    url: "/api2/json/admin/datastore/:store/status",
    schema: { params: StoreParams, response: { 200: Data(DatastoreStatus) } },
  },
  prune: {
    method: "POST",
    url: "/api2/json/admin/datastore/:store/prune",
    schema: {
      params: StoreParams,
      body: Type.Composite([GroupSelector, KeepOptions, Type.Object({ "dry-run": Type.Optional(Type.Boolean()) })]),
      response: { 200: Data(Type.Array(PruneEntry)) },
    },
  },
  startGc: {
    method: "POST",
    url: "/api2/json/admin/datastore/:store/gc",
    schema: { params: StoreParams, response: { 200: Data(Type.String()) } },
  },
  gcStatus: {
    method: "GET",
    url: "/api2/json/admin/datastore/:store/gc",
    schema: { params: StoreParams, response: { 200: Data(Type.Union([GcStatus, Type.Null()])) } },
  },
  verify: {
    method: "POST",
    url: "/api2/json/admin/datastore/:store/verify",
    schema: {
      params: StoreParams,
      body: Type.Object({
        ns: Type.Optional(Namespace),
        "backup-type": Type.Optional(BackupType),
        "backup-id": Type.Optional(BackupId),
        "backup-time": Type.Optional(BackupTime),
        "ignore-verified": Type.Optional(Type.Boolean()),
        "outdated-after": Type.Optional(Count),
      }),
      response: { 200: Data(Type.String()) },
    },
  },
  getProtected: {
    method: "GET",
    url: "/api2/json/admin/datastore/:store/protected",
    schema: { params: StoreParams, querystring: SnapshotSelector, response: { 200: Data(Type.Boolean()) } },
  },
  setProtected: {
    method: "PUT",
    url: "/api2/json/admin/datastore/:store/protected",
    schema: {
      params: StoreParams,
      body: Type.Composite([SnapshotSelector, Type.Object({ protected: Type.Boolean() })]),
      response: { 200: Data(Type.Null()) },
    },
  },
  getNotes: {
    method: "GET",
    url: "/api2/json/admin/datastore/:store/notes",
    schema: { params: StoreParams, querystring: SnapshotSelector, response: { 200: Data(Type.String()) } },
  },
  setNotes: {
    method: "PUT",
    url: "/api2/json/admin/datastore/:store/notes",
    schema: {
      params: StoreParams,
      body: Type.Composite([SnapshotSelector, Type.Object({ notes: Type.String({ maxLength: 65536 }) })]),
      response: { 200: Data(Type.Null()) },
    },
  },
} as const;
