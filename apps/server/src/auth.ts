// Who is calling: API tokens (`Authorization: CAIRNAPIToken user@realm!name:SECRET`) and
// tickets from passwords (`CAIRNAuthCookie` cookie or header). Passwords are scrypt-hashed,
// token secrets sha256-hashed with a salt (they are 32 random bytes); tickets are
// `CAIRN:<userid>:<hex time>::<base64url HMAC-SHA256>` and live two hours.

import { createHash, createHmac, randomBytes, scrypt, scryptSync, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;
import { ProtocolError } from "@cairn/protocol";
import { type ConfigDir, FILES, type PasswordHash, type TokenEntry } from "./config.js";

export const TICKET_LIFETIME_S = 2 * 3600;
const USERID_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]*@(pbs|pam)$/;
const TOKEN_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

export interface Caller {
  /** The auth id: a userid, or a token id `user@realm!name`. */
  authId: string;
  userid: string;
  isToken: boolean;
}

export function parseUserid(s: string): string {
  if (!USERID_RE.test(s) || s.includes("..") || s.length > 64) {
    throw new ProtocolError("ERR_BAD_NAME", `invalid userid "${s}" (expected name@pbs)`);
  }
  return s;
}

export function parseTokenId(s: string): { userid: string; name: string } {
  const bang = s.indexOf("!");
  if (bang < 0) throw new ProtocolError("ERR_BAD_NAME", `invalid token id "${s}" (expected user@pbs!name)`);
  const userid = parseUserid(s.slice(0, bang));
  const name = s.slice(bang + 1);
  if (!TOKEN_NAME_RE.test(name) || name.includes("..") || name.length > 64) {
    throw new ProtocolError("ERR_BAD_NAME", `invalid token name "${name}"`);
  }
  return { userid, name };
}

export function userOf(authId: string): string {
  const bang = authId.indexOf("!");
  return bang < 0 ? authId : authId.slice(0, bang);
}

export function hashPassword(password: string): PasswordHash {
  const salt = randomBytes(16);
  return { algo: "scrypt", salt: salt.toString("hex"), hash: scryptSync(password, salt, 32).toString("hex") };
}

/** Async (libuv thread pool), so that password attempts never stall the event loop. */
export async function checkPassword(password: string, h: PasswordHash): Promise<boolean> {
  const want = Buffer.from(h.hash, "hex");
  const got = await scryptAsync(password, Buffer.from(h.salt, "hex"), want.length);
  return timingSafeEqual(got, want);
}

export function newTokenSecret(): { secret: string; entry: TokenEntry } {
  const secret = randomBytes(32).toString("base64url");
  const salt = randomBytes(16).toString("hex");
  return { secret, entry: { enable: true, salt, hash: tokenHash(salt, secret) } };
}

function tokenHash(salt: string, secret: string): string {
  return createHash("sha256").update(salt).update(secret).digest("hex");
}

export function createUser(config: ConfigDir, userid: string, password?: string, comment?: string): void {
  parseUserid(userid);
  const f = config.userFile();
  if (f.users[userid]) throw new ProtocolError("ERR_EXISTS", `user ${userid} already exists`);
  f.users[userid] = { enable: true, comment, password: password === undefined ? undefined : hashPassword(password) };
  config.writeJson(FILES.users, f);
}

/** Makes a token and returns its secret (shown once; only its hash is stored). */
export function createToken(config: ConfigDir, tokenId: string, comment?: string): string {
  const { userid } = parseTokenId(tokenId);
  const f = config.userFile();
  if (!f.users[userid]) throw new ProtocolError("ERR_NOT_FOUND", `user ${userid} does not exist`);
  if (f.tokens[tokenId]) throw new ProtocolError("ERR_EXISTS", `token ${tokenId} already exists`);
  const { secret, entry } = newTokenSecret();
  f.tokens[tokenId] = { ...entry, comment };
  config.writeJson(FILES.users, f);
  return secret;
}

/**
 * Removes a token, or a user with all its tokens, and their ACL entries (as PBS does), so that a
 * token made later under the same name starts with no privileges. Takes effect at the next
 * request: the running server re-reads the files.
 */
export function deleteAuthId(config: ConfigDir, authId: string): { removed: string[] } {
  const f = config.userFile();
  const removed: string[] = [];
  if (authId.includes("!")) {
    parseTokenId(authId);
    if (!f.tokens[authId]) throw new ProtocolError("ERR_NOT_FOUND", `token ${authId} does not exist`);
    delete f.tokens[authId];
    removed.push(authId);
  } else {
    parseUserid(authId);
    if (!f.users[authId]) throw new ProtocolError("ERR_NOT_FOUND", `user ${authId} does not exist`);
    for (const t of Object.keys(f.tokens)) {
      if (userOf(t) === authId) {
        delete f.tokens[t];
        removed.push(t);
      }
    }
    delete f.users[authId];
    removed.push(authId);
  }
  config.writeJson(FILES.users, f);
  const gone = new Set(removed);
  config.writeJson(
    FILES.acl,
    config.acl().filter((e) => !gone.has(e.authId)),
  );
  return { removed };
}

export async function issueTicket(config: ConfigDir, userid: string, password: string): Promise<{ ticket: string; expires: number }> {
  const f = config.userFile();
  const u = f.users[userid];
  if (!u?.enable || !u.password || !(await checkPassword(password, u.password))) {
    throw new ProtocolError("ERR_AUTH", "authentication failed: wrong user name or password");
  }
  const now = Math.floor(Date.now() / 1000);
  const payload = `CAIRN:${userid}:${now.toString(16).toUpperCase()}`;
  const sig = createHmac("sha256", config.authKey()).update(payload).digest("base64url");
  return { ticket: `${payload}::${sig}`, expires: now + TICKET_LIFETIME_S };
}

function verifyTicket(config: ConfigDir, ticket: string): Caller {
  const fail = () => new ProtocolError("ERR_AUTH", "invalid or expired ticket");
  const sep = ticket.lastIndexOf("::");
  if (sep < 0) throw fail();
  const payload = ticket.slice(0, sep);
  const sig = Buffer.from(ticket.slice(sep + 2), "base64url");
  const want = createHmac("sha256", config.authKey()).update(payload).digest();
  if (sig.length !== want.length || !timingSafeEqual(sig, want)) throw fail();
  const m = /^CAIRN:([^:]+):([0-9A-F]+)$/.exec(payload);
  if (!m) throw fail();
  const t = Number.parseInt(m[2], 16);
  const now = Math.floor(Date.now() / 1000);
  if (!(t <= now + 300 && now - t <= TICKET_LIFETIME_S)) throw fail();
  const u = config.userFile().users[m[1]];
  if (!u?.enable) throw fail();
  return { authId: m[1], userid: m[1], isToken: false };
}

function verifyToken(config: ConfigDir, tokenId: string, secret: string): Caller {
  const fail = () => new ProtocolError("ERR_AUTH", "authentication failed: unknown token or wrong secret");
  let userid: string;
  try {
    ({ userid } = parseTokenId(tokenId));
  } catch {
    throw fail();
  }
  const f = config.userFile();
  const t = f.tokens[tokenId];
  const u = f.users[userid];
  if (!t?.enable || !u?.enable) throw fail();
  const got = Buffer.from(tokenHash(t.salt, secret), "hex");
  const want = Buffer.from(t.hash, "hex");
  if (got.length !== want.length || !timingSafeEqual(got, want)) throw fail();
  return { authId: tokenId, userid, isToken: true };
}

function cookieValue(cookieHeader: string | undefined, name: string): string | undefined {
  if (!cookieHeader) return undefined;
  for (const part of cookieHeader.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      // a malformed %-escape is no credential (401), not a server error
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** Authenticates request headers; throws ERR_AUTH (401) when nothing valid is presented. */
export function authenticate(config: ConfigDir, headers: Record<string, string | string[] | undefined>): Caller {
  const authz = headers.authorization;
  if (typeof authz === "string" && authz.startsWith("CAIRNAPIToken ")) {
    const rest = authz.slice("CAIRNAPIToken ".length).trim();
    const colon = rest.lastIndexOf(":");
    if (colon < 0) throw new ProtocolError("ERR_AUTH", "malformed CAIRNAPIToken header (expected user@realm!name:SECRET)");
    return verifyToken(config, rest.slice(0, colon), rest.slice(colon + 1));
  }
  const headerTicket = headers.cairnauthcookie;
  const ticket = typeof headerTicket === "string" ? headerTicket : cookieValue(headers.cookie as string | undefined, "CAIRNAuthCookie");
  if (ticket) return verifyTicket(config, ticket);
  throw new ProtocolError("ERR_AUTH", "authentication required (CAIRNAPIToken header or CAIRNAuthCookie ticket)");
}
