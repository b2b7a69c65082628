// Names and small value types used by every route and session message. The patterns refuse
// `/`, `..`, NUL and over-long names so that invalid input is rejected at the edge (HTTP 400)
// before it can reach a file system path (spec: datastore.md "Layout").

import { type Static, type TSchema, Type } from "@sinclair/typebox";

const SAFE_NAME = "(?!.*\\.\\.)[A-Za-z0-9_][A-Za-z0-9._\\-]*";

export const NAME_MAX = 128;
export const NS_MAX_DEPTH = 7;

export const BackupType = Type.Union([Type.Literal("vm"), Type.Literal("ct"), Type.Literal("host")]);
export type BackupType = Static<typeof BackupType>;

export const BackupId = Type.String({ pattern: `^${SAFE_NAME}$`, minLength: 1, maxLength: NAME_MAX });
export const StoreName = Type.String({ pattern: `^${SAFE_NAME}$`, minLength: 1, maxLength: 32 });
/** Archive (file) names inside a snapshot: index files and blobs. */
export const ArchiveName = Type.String({ pattern: `^${SAFE_NAME}\\.(didx|fidx|blob)$`, minLength: 6, maxLength: NAME_MAX });
/** Namespace path `a/b/c` (empty = root), at most 7 levels. */
export const Namespace = Type.String({
  pattern: `^(${SAFE_NAME}(/${SAFE_NAME}){0,${NS_MAX_DEPTH - 1}})?$`,
  maxLength: 256,
});
/** Snapshot time, epoch seconds. */
export const BackupTime = Type.Integer({ minimum: 0, maximum: 253402300799 });
/** Chunk digest: 64 lowercase hex. */
export const Digest = Type.String({ pattern: "^[0-9a-f]{64}$" });
export const Userid = Type.String({ pattern: `^${SAFE_NAME}@(pbs|pam)$`, maxLength: 64 });
export const TokenId = Type.String({ pattern: `^${SAFE_NAME}@(pbs|pam)!${SAFE_NAME}$`, maxLength: 128 });
export const AuthId = Type.Union([Userid, TokenId]);
export const Role = Type.Union([
  Type.Literal("Admin"),
  Type.Literal("DatastoreAdmin"),
  Type.Literal("DatastoreBackup"),
  Type.Literal("DatastoreReader"),
  Type.Literal("DatastoreAudit"),
  Type.Literal("NoAccess"),
]);
export type Role = Static<typeof Role>;
export const ROLES: readonly Role[] = ["Admin", "DatastoreAdmin", "DatastoreBackup", "DatastoreReader", "DatastoreAudit", "NoAccess"];

export const ErrorBodySchema = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String() }),
});

/** PBS wraps every answer in `{data: …}`; so do we. */
export function Data<T extends TSchema>(schema: T) {
  return Type.Object({ data: schema });
}

/** The group/snapshot selector used by queries of snapshot routes. */
export const SnapshotSelector = Type.Object({
  ns: Type.Optional(Namespace),
  "backup-type": BackupType,
  "backup-id": BackupId,
  "backup-time": BackupTime,
});
export type SnapshotSelector = Static<typeof SnapshotSelector>;

export const GroupSelector = Type.Object({
  ns: Type.Optional(Namespace),
  "backup-type": BackupType,
  "backup-id": BackupId,
});
export type GroupSelector = Static<typeof GroupSelector>;

/** Query of the session upgrade routes (`/api2/json/backup`, `/api2/json/reader`). */
export const SessionQuery = Type.Object({
  store: StoreName,
  ns: Type.Optional(Namespace),
  "backup-type": BackupType,
  "backup-id": BackupId,
  "backup-time": BackupTime,
  debug: Type.Optional(Type.Boolean()),
  benchmark: Type.Optional(Type.Boolean()),
});
export type SessionQuery = Static<typeof SessionQuery>;
