// The config folder (mode 0700): JSON files written atomically (tmp + rename), read fresh when
// their mtime changes so that CLI edits reach a running server without a restart.
// Layout: datastore.json, user.json (users + tokens, secrets hashed), acl.json, authkey.key
// (ticket HMAC key), cert/ (TLS key and certificate), tasks/ (task logs).

import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { ProtocolError, type Role } from "@cairn/protocol";
import { makeDirs } from "@cairn/datastore";

export interface DatastoreEntry {
  path: string;
  comment?: string;
  /**
   * GC safety window replacing the 24 h relatime margin (seconds). Only for tests or file systems
   * known to honour explicit atime updates; absent = the datastore's safe default.
   */
  gcAtimeSafetySeconds?: number;
  /** Extra GC margin below the cutoff (seconds); absent = 300. */
  gcGraceSeconds?: number;
  /** Start-up cleanup removes temp chunk files older than this (seconds); absent = 3600. */
  cleanupGraceSeconds?: number;
}

export interface PasswordHash {
  algo: "scrypt";
  salt: string;
  hash: string;
}

export interface UserEntry {
  enable: boolean;
  comment?: string;
  password?: PasswordHash;
}

export interface TokenEntry {
  enable: boolean;
  /** sha256(salt ‖ secret): token secrets are 32 random bytes, so a fast hash suffices. */
  salt: string;
  hash: string;
  comment?: string;
}

export interface AclRecord {
  path: string;
  role: Role;
  authId: string;
  propagate: boolean;
}

export interface UserFile {
  users: Record<string, UserEntry>;
  tokens: Record<string, TokenEntry>;
}

export const FILES = {
  datastores: "datastore.json",
  users: "user.json",
  acl: "acl.json",
  authKey: "authkey.key",
  certDir: "cert",
  tasksDir: "tasks",
} as const;

export class ConfigDir {
  readonly dir: string;
  readonly #cache = new Map<string, { mtimeMs: number; size: number; value: unknown }>();

  constructor(dir: string) {
    this.dir = path.resolve(dir);
  }

  /** Creates the folder (0700) and its sub-folders if missing. */
  ensure(): void {
    makeDirs(this.dir, 0o700);
    fs.chmodSync(this.dir, 0o700);
    fs.mkdirSync(path.join(this.dir, FILES.certDir), { recursive: true, mode: 0o700 });
    fs.mkdirSync(path.join(this.dir, FILES.tasksDir), { recursive: true, mode: 0o700 });
  }

  /** Throws a user-facing error unless the folder exists. */
  requireExisting(): void {
    if (!fs.existsSync(this.dir)) {
      throw new ProtocolError("ERR_NOT_FOUND", `config folder ${this.dir} does not exist (run "cairn-server start --config ${this.dir}" once, or create it)`);
    }
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  readJson<T>(name: string, fallback: T): T {
    const p = this.file(name);
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      return fallback;
    }
    const hit = this.#cache.get(name);
    if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return structuredClone(hit.value) as T;
    const value = JSON.parse(fs.readFileSync(p, "utf8")) as T;
    this.#cache.set(name, { mtimeMs: st.mtimeMs, size: st.size, value });
    return structuredClone(value);
  }

  writeJson(name: string, value: unknown): void {
    writeAtomic(this.file(name), `${JSON.stringify(value, null, 2)}\n`);
    this.#cache.delete(name);
  }

  datastores(): Record<string, DatastoreEntry> {
    return this.readJson<Record<string, DatastoreEntry>>(FILES.datastores, {});
  }

  userFile(): UserFile {
    const f = this.readJson<UserFile>(FILES.users, { users: {}, tokens: {} });
    f.users ??= {};
    f.tokens ??= {};
    return f;
  }

  acl(): AclRecord[] {
    return this.readJson<AclRecord[]>(FILES.acl, []);
  }

  /** The ticket signing key, made on first use. */
  authKey(): Buffer {
    const p = this.file(FILES.authKey);
    try {
      return fs.readFileSync(p);
    } catch {
      const key = randomBytes(32);
      writeAtomic(p, key);
      return fs.readFileSync(p);
    }
  }
}

/** Writes `data` to `file` via a temp file in the same folder and a rename (mode 0600). */
export function writeAtomic(file: string, data: string | Buffer): void {
  const tmp = `${file}.tmp_${process.pid}_${randomBytes(4).toString("hex")}`;
  const fd = fs.openSync(tmp, "w", 0o600);
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}
