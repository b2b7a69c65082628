// Snapshot and group arguments as PBS prints them: `host/ID` (a group; for a snapshot argument it
// means the newest snapshot of the group) and `host/ID/2026-11-22T15:04:05Z` (one snapshot; the
// epoch number is accepted too). Types are host, vm, ct.

import { ClientError } from "./errors.js";

export type BackupType = "host" | "vm" | "ct";

export interface GroupSpec {
  type: BackupType;
  id: string;
}

export interface SnapshotSpec extends GroupSpec {
  /** Epoch seconds; undefined = latest. */
  time?: number;
}

const ID_RE = /^(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9._-]*$/;
/** The server's limits (protocol schemas: BackupId, Namespace). */
const ID_MAX = 128;
const NS_MAX_DEPTH = 7;
const NS_MAX = 256;
const NAME_RULE = "letters, digits, '_', '.' and '-', not starting with '.' or '-', without '..'";

/** Why `id` cannot be a backup id (or a namespace level), or null. */
function idProblem(id: string, max: number): string | null {
  if (id === "") return "is empty";
  if (id.length > max) return `is longer than ${max} characters`;
  if (!ID_RE.test(id)) return `may hold only ${NAME_RULE}`;
  return null;
}

/** `--backup-id`: checked here, so a mistake is named before anything is sent. */
export function parseBackupId(id: string): string {
  const problem = idProblem(id, ID_MAX);
  if (problem) throw new ClientError("ERR_USAGE", `backup id ${JSON.stringify(id)} ${problem}`);
  return id;
}

/** `--ns a/b/c`: up to 7 levels separated by '/', each a name like a backup id. */
export function parseNamespace(ns: string): string {
  // as in PBS, the empty namespace is the root one
  if (ns === "") return "";
  if (ns.length > NS_MAX) throw new ClientError("ERR_USAGE", `namespace ${JSON.stringify(ns.slice(0, 40))}… is longer than ${NS_MAX} characters`);
  const levels = ns.split("/");
  if (levels.length > NS_MAX_DEPTH) throw new ClientError("ERR_USAGE", `namespace ${JSON.stringify(ns)} has ${levels.length} levels; at most ${NS_MAX_DEPTH} are allowed`);
  for (const level of levels) {
    const problem = idProblem(level, ID_MAX);
    if (problem) throw new ClientError("ERR_USAGE", `namespace ${JSON.stringify(ns)}: level ${JSON.stringify(level)} ${problem}`);
  }
  return ns;
}

export function parseBackupType(t: string): BackupType {
  if (t === "host" || t === "vm" || t === "ct") return t;
  throw new ClientError("ERR_SNAPSHOT_SPEC", `backup type must be host, vm or ct, got "${t}"`);
}

export function parseTime(text: string): number {
  if (/^\d+$/.test(text)) return Number(text);
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/.exec(text);
  let t = m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) / 1000 : Number.NaN;
  // Date.UTC rolls 23:59:61 over into the next minute: such a time names another snapshot
  if (Number.isFinite(t) && new Date(t * 1000).toISOString().replace(".000Z", "Z") !== text) t = Number.NaN;
  if (!Number.isFinite(t)) throw new ClientError("ERR_SNAPSHOT_SPEC", `"${text}" is not a snapshot time (2026-11-22T15:04:05Z or epoch seconds)`);
  return t;
}

export function parseGroup(text: string): GroupSpec {
  const parts = text.split("/");
  if (parts.length !== 2) throw new ClientError("ERR_SNAPSHOT_SPEC", `"${text}" is not a backup group (TYPE/ID, e.g. host/web1)`);
  const problem = idProblem(parts[1], ID_MAX);
  if (problem) throw new ClientError("ERR_SNAPSHOT_SPEC", `"${parts[1]}" is not a backup id: it ${problem}`);
  return { type: parseBackupType(parts[0]), id: parts[1] };
}

export function parseSnapshot(text: string): SnapshotSpec {
  const parts = text.split("/");
  if (parts.length === 2) return parseGroup(text);
  if (parts.length !== 3) throw new ClientError("ERR_SNAPSHOT_SPEC", `"${text}" is not a snapshot (TYPE/ID/TIME or TYPE/ID for the latest)`);
  return { ...parseGroup(`${parts[0]}/${parts[1]}`), time: parseTime(parts[2]) };
}

export function formatSnapshot(type: string, id: string, time: number): string {
  return `${type}/${id}/${new Date(time * 1000).toISOString().replace(/\.\d{3}Z$/, "Z")}`;
}
