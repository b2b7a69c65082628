// Name validation: every name that becomes part of a path (namespace, backup type, backup id,
// snapshot time, archive name, chunk digest) is checked here before any path is built.
// Spec: datastore.md "Layout" (the id and archive-name patterns, namespace depth ≤ 7).

import { DatastoreError } from "./errors.js";

export type BackupType = "vm" | "ct" | "host";
export const BACKUP_TYPES: readonly BackupType[] = ["vm", "ct", "host"];

export const MAX_NAMESPACE_DEPTH = 7;
export const MAX_NAMESPACE_COMPONENT_LENGTH = 32;
export const MAX_ID_LENGTH = 128;
export const MAX_ARCHIVE_NAME_LENGTH = 128;

const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const ARCHIVE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*\.(didx|fidx|blob)$/;
const DIGEST = /^[0-9a-f]{64}$/;
const BACKUP_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;

/** Reserved file names inside a snapshot that a client may not upload as an archive. */
export const MANIFEST_NAME = "index.json.blob";

function badName(kind: string, value: unknown, why: string): DatastoreError {
  const shown = typeof value === "string" ? JSON.stringify(value.slice(0, 200)) : String(value);
  return new DatastoreError("ERR_BAD_NAME", `invalid ${kind} ${shown}: ${why}`, { resource: String(value) });
}

function checkSafe(kind: string, value: unknown, maxLength: number, pattern = SAFE_NAME): string {
  if (typeof value !== "string") throw badName(kind, value, "not a string");
  if (value.length === 0) throw badName(kind, value, "empty");
  if (value.length > maxLength) throw badName(kind, value, `longer than ${maxLength} characters`);
  if (value.includes("\0")) throw badName(kind, value, "contains NUL");
  if (value.includes("/") || value.includes("\\")) throw badName(kind, value, "contains a path separator");
  // The pattern already excludes "." and ".." as whole names; a ".." anywhere is refused too.
  if (value.includes("..")) throw badName(kind, value, 'contains ".."');
  if (!pattern.test(value)) throw badName(kind, value, `does not match ${pattern}`);
  return value;
}

export function validateBackupType(value: unknown): BackupType {
  if (typeof value !== "string" || !(BACKUP_TYPES as readonly string[]).includes(value)) {
    throw badName("backup type", value, "must be vm, ct or host");
  }
  return value as BackupType;
}

export function validateBackupId(value: unknown): string {
  return checkSafe("backup id", value, MAX_ID_LENGTH);
}

/** An archive name as uploaded by a client: `<name>.didx|.fidx|.blob`, never the manifest. */
export function validateArchiveName(value: unknown): string {
  const name = checkSafe("archive name", value, MAX_ARCHIVE_NAME_LENGTH, ARCHIVE_NAME);
  if (name === MANIFEST_NAME) throw badName("archive name", value, "reserved for the manifest");
  return name;
}

export function validateDigest(value: unknown): string {
  if (typeof value !== "string" || !DIGEST.test(value)) {
    throw badName("chunk digest", value, "must be 64 lowercase hex digits");
  }
  return value;
}

/**
 * A namespace is written as "a/b/c" ("" = root). Returns its components, each a safe name, at
 * most MAX_NAMESPACE_DEPTH deep.
 */
export function parseNamespace(value: unknown): string[] {
  if (value === undefined || value === "") return [];
  if (typeof value !== "string") throw badName("namespace", value, "not a string");
  if (value.includes("\0")) throw badName("namespace", value, "contains NUL");
  const parts = value.split("/");
  if (parts.length > MAX_NAMESPACE_DEPTH) {
    throw badName("namespace", value, `deeper than ${MAX_NAMESPACE_DEPTH} levels`);
  }
  for (const p of parts) checkSafe("namespace component", p, MAX_NAMESPACE_COMPONENT_LENGTH);
  return parts;
}

export function validateNamespace(value: unknown): string {
  return parseNamespace(value).join("/");
}

/** Epoch seconds → the snapshot folder name, RFC 3339 UTC without fraction. */
export function formatBackupTime(epochSeconds: number): string {
  if (!Number.isSafeInteger(epochSeconds) || epochSeconds < 0 || epochSeconds > 253402300799) {
    throw badName("backup time", epochSeconds, "must be whole epoch seconds between 1970 and 9999");
  }
  return new Date(epochSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The snapshot folder name → epoch seconds; refuses anything that does not round-trip. */
export function parseBackupTime(value: unknown): number {
  if (typeof value !== "string" || !BACKUP_TIME.test(value)) {
    throw badName("backup time", value, "must look like 2026-11-22T15:04:05Z");
  }
  const ms = Date.parse(value);
  if (Number.isNaN(ms) || formatBackupTime(ms / 1000) !== value) {
    throw badName("backup time", value, "not a valid UTC time");
  }
  return ms / 1000;
}

export function isBackupTimeName(value: string): boolean {
  try {
    parseBackupTime(value);
    return true;
  } catch {
    return false;
  }
}

export function isSafeName(value: string): boolean {
  return SAFE_NAME.test(value) && !value.includes("..") && value.length <= MAX_ID_LENGTH;
}

/** A backup group: namespace ("" = root), type and id. */
export interface GroupRef {
  ns?: string;
  type: BackupType;
  id: string;
}

/** A snapshot: a group plus the backup time in epoch seconds. */
export interface SnapshotRef extends GroupRef {
  time: number;
}

export function validateGroup(g: GroupRef): Required<GroupRef> {
  if (!g || typeof g !== "object") throw badName("backup group", g, "not an object");
  return { ns: validateNamespace(g.ns ?? ""), type: validateBackupType(g.type), id: validateBackupId(g.id) };
}

export function validateSnapshot(s: SnapshotRef): Required<SnapshotRef> {
  const g = validateGroup(s);
  formatBackupTime(s.time);
  return { ...g, time: s.time };
}

export function groupToString(g: GroupRef): string {
  const ns = g.ns ? `ns/${g.ns}/` : "";
  return `${ns}${g.type}/${g.id}`;
}

export function snapshotToString(s: SnapshotRef): string {
  return `${groupToString(s)}/${formatBackupTime(s.time)}`;
}
