// Repository strings as proxmox-backup-client writes them:
//   [[auth-id@]host[:port]:]datastore     auth-id = user@realm or user@realm!token
// The host may be a name, an IPv4 address or an IPv6 literal in brackets (`[::1]:8007:store`).
// The parser works right to left (store, then host/port, then the auth id up to the last '@'),
// so that the '@' inside an auth id never confuses it; every part is validated.

import net from "node:net";
import { ClientError } from "./errors.js";

export const DEFAULT_PORT = 8007;
export const DEFAULT_HOST = "localhost";
export const DEFAULT_AUTH_ID = "root@pam";

export interface Repository {
  /** `user@realm` or `user@realm!token`. */
  authId: string;
  host: string;
  port: number;
  store: string;
}

const NAME = "(?!.*\\.\\.)[A-Za-z0-9_][A-Za-z0-9._\\-]*";
const STORE_RE = new RegExp(`^${NAME}$`);
const AUTH_ID_RE = new RegExp(`^${NAME}@${NAME}(!${NAME})?$`);
const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function bad(repo: string, why: string): ClientError {
  return new ClientError("ERR_REPOSITORY", `invalid repository "${repo}": ${why} (expected [[user@realm[!token]@]host[:port]:]datastore)`);
}

export function parseRepository(repo: string): Repository {
  if (repo.length === 0) throw bad(repo, "empty");
  if (/[\s/]/.test(repo)) throw bad(repo, "contains whitespace or '/'");
  const lastColon = repo.lastIndexOf(":");
  const store = repo.slice(lastColon + 1);
  if (!STORE_RE.test(store) || store.length > 32) throw bad(repo, `"${store}" is not a datastore name`);
  if (lastColon < 0) return { authId: DEFAULT_AUTH_ID, host: DEFAULT_HOST, port: DEFAULT_PORT, store };
  const prefix = repo.slice(0, lastColon);
  if (prefix.length === 0) throw bad(repo, "empty host before ':'");
  const at = prefix.lastIndexOf("@");
  let authId = DEFAULT_AUTH_ID;
  let hostPort = prefix;
  if (at >= 0) {
    authId = prefix.slice(0, at);
    hostPort = prefix.slice(at + 1);
    if (!AUTH_ID_RE.test(authId)) throw bad(repo, `"${authId}" is not an auth id (user@realm or user@realm!token)`);
  }
  let host: string;
  let portText: string | undefined;
  if (hostPort.startsWith("[")) {
    const close = hostPort.indexOf("]");
    if (close < 0) throw bad(repo, "unclosed '[' in host");
    host = hostPort.slice(1, close);
    const rest = hostPort.slice(close + 1);
    if (!net.isIPv6(host)) throw bad(repo, `"${host}" is not an IPv6 address`);
    if (rest !== "") {
      if (!rest.startsWith(":")) throw bad(repo, `unexpected "${rest}" after the IPv6 address`);
      portText = rest.slice(1);
    }
  } else {
    const parts = hostPort.split(":");
    if (parts.length > 2) throw bad(repo, "IPv6 addresses must be written in brackets, e.g. [::1]:8007:store");
    host = parts[0];
    portText = parts[1];
    if (!(net.isIPv4(host) || HOSTNAME_RE.test(host))) throw bad(repo, `"${host}" is not a host name or address`);
  }
  let port = DEFAULT_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) throw bad(repo, `"${portText}" is not a port (1-65535)`);
    port = Number(portText);
  }
  return { authId, host, port, store };
}

/** The canonical text of a repository (what `parseRepository` reads back to the same value). */
export function formatRepository(r: Repository): string {
  const host = r.host.includes(":") ? `[${r.host}]` : r.host;
  return `${r.authId}@${host}:${r.port}:${r.store}`;
}

export function isTokenId(authId: string): boolean {
  return authId.includes("!");
}
