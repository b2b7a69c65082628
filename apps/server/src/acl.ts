// Authorization: ACL entries (path, role, auth id, propagate) on `/`, `/datastore`,
// `/datastore/<store>[/<ns>…]`. The most specific path holding entries for an auth id decides
// (ancestors count only with propagate); NoAccess there means nothing. A token gets at most
// its user's privileges: the intersection of the token's and the user's sets (as PBS).

import { ProtocolError, ROLES, type Role } from "@cairn/protocol";
import { parseTokenId, parseUserid, userOf, type Caller } from "./auth.js";
import { type AclRecord, type ConfigDir, FILES } from "./config.js";

export type Priv =
  | "Sys.Audit"
  | "Sys.Modify"
  | "Datastore.Audit"
  | "Datastore.Read"
  | "Datastore.Backup"
  | "Datastore.Modify"
  | "Datastore.Verify"
  | "Datastore.Prune";

const ALL: Priv[] = ["Sys.Audit", "Sys.Modify", "Datastore.Audit", "Datastore.Read", "Datastore.Backup", "Datastore.Modify", "Datastore.Verify", "Datastore.Prune"];

export const ROLE_PRIVS: Record<Role, readonly Priv[]> = {
  Admin: ALL,
  DatastoreAdmin: ["Datastore.Audit", "Datastore.Read", "Datastore.Backup", "Datastore.Modify", "Datastore.Verify", "Datastore.Prune"],
  DatastoreBackup: ["Datastore.Backup"],
  DatastoreReader: ["Datastore.Audit", "Datastore.Read", "Datastore.Verify"],
  DatastoreAudit: ["Datastore.Audit"],
  NoAccess: [],
};

export function datastorePath(store: string, ns?: string): string {
  return ns ? `/datastore/${store}/${ns}` : `/datastore/${store}`;
}

function ancestry(path: string): string[] {
  const parts = path.split("/").filter((p) => p !== "");
  const out = ["/"];
  for (let i = 1; i <= parts.length; i++) out.push(`/${parts.slice(0, i).join("/")}`);
  return out;
}

function privsOfId(acl: AclRecord[], authId: string, path: string): Set<Priv> {
  const levels = ancestry(path);
  let roles: Role[] | undefined;
  for (let i = 0; i < levels.length; i++) {
    const exact = i === levels.length - 1;
    const here = acl.filter((e) => e.authId === authId && e.path === levels[i] && (exact || e.propagate));
    if (here.length > 0) roles = here.map((e) => e.role);
  }
  const out = new Set<Priv>();
  if (!roles || roles.includes("NoAccess")) return out;
  for (const r of roles) for (const p of ROLE_PRIVS[r] ?? []) out.add(p);
  return out;
}

/** Effective privileges of a caller on a path. */
export function privileges(config: ConfigDir, caller: Pick<Caller, "authId">, path: string): Set<Priv> {
  const acl = config.acl();
  const own = privsOfId(acl, caller.authId, path);
  const user = userOf(caller.authId);
  if (user === caller.authId) return own;
  const userPrivs = privsOfId(acl, user, path);
  return new Set([...own].filter((p) => userPrivs.has(p)));
}

export function hasPriv(config: ConfigDir, caller: Caller, path: string, ...any: Priv[]): boolean {
  const p = privileges(config, caller, path);
  return any.some((x) => p.has(x));
}

/** Throws ERR_FORBIDDEN (403) unless the caller holds one of `any` on `path`. */
export function requirePriv(config: ConfigDir, caller: Caller, path: string, ...any: Priv[]): Set<Priv> {
  const p = privileges(config, caller, path);
  if (!any.some((x) => p.has(x))) {
    throw new ProtocolError("ERR_FORBIDDEN", `${caller.authId} lacks ${any.join(" or ")} on ${path}`);
  }
  return p;
}

/**
 * May `authId` act as the owner of a group owned by `owner`? The owner itself, a user for the
 * groups of its own tokens, and a token for its user's groups.
 */
/**
 * As PBS's check_backup_owner: the owner itself, or a user acting on a group one of its own
 * tokens owns. A token may not act on its user's groups, nor on a sibling token's.
 */
export function isOwner(authId: string, owner: string | undefined): boolean {
  if (owner === undefined) return false;
  return owner === authId || (owner.includes("!") && userOf(owner) === authId);
}

export function validateAclPath(path: string): string {
  if (!/^\/(datastore(\/[A-Za-z0-9_][A-Za-z0-9._-]*){0,8})?$/.test(path) || path.includes("..")) {
    throw new ProtocolError("ERR_BAD_NAME", `invalid ACL path "${path}" (expected /, /datastore or /datastore/STORE[/NS…])`);
  }
  return path;
}

export function setAcl(config: ConfigDir, entry: { path: string; role: string; authId: string; propagate?: boolean; remove?: boolean }): void {
  validateAclPath(entry.path);
  if (!ROLES.includes(entry.role as Role)) {
    throw new ProtocolError("ERR_BAD_REQUEST", `unknown role "${entry.role}" (one of ${ROLES.join(", ")})`);
  }
  const users = config.userFile();
  if (entry.authId.includes("!")) {
    parseTokenId(entry.authId);
    if (!users.tokens[entry.authId]) throw new ProtocolError("ERR_NOT_FOUND", `token ${entry.authId} does not exist`);
  } else {
    parseUserid(entry.authId);
    if (!users.users[entry.authId]) throw new ProtocolError("ERR_NOT_FOUND", `user ${entry.authId} does not exist`);
  }
  const acl = config.acl().filter((e) => !(e.path === entry.path && e.authId === entry.authId && e.role === entry.role));
  if (!entry.remove) acl.push({ path: entry.path, role: entry.role as Role, authId: entry.authId, propagate: entry.propagate ?? true });
  config.writeJson(FILES.acl, acl);
}
