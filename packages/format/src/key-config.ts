// Key files (spec: format.md, "Keys and digests"; PBS `pbs-key-config`): the 32-byte key,
// AES-256-GCM-encrypted under a key derived from a passphrase by scrypt (n=65536, r=8, p=1)
// or PBKDF2-HMAC-SHA256 (65535 iterations), or stored bare. Field encodings follow PBS's
// serde: `data` and `salt` base64, `created`/`modified` RFC 3339, `fingerprint` full colon hex.

import { createCipheriv, createDecipheriv, pbkdf2, randomBytes, scrypt } from "node:crypto";
import { open, readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { CryptConfig, IV_SIZE, KEY_SIZE, TAG_SIZE } from "./crypt-config.js";
import { FormatError } from "./errors.js";
import { commitTmp, removeQuietly, tmpPathFor } from "./internal/atomic-file.js";
import { colonHex, fromColonHex } from "./internal/hex.js";

const pbkdf2Async = promisify(pbkdf2);
const scryptAsync = promisify(scrypt) as (pw: Buffer, salt: Buffer, len: number, opts: object) => Promise<Buffer>;

export const SCRYPT_N = 65536;
export const SCRYPT_R = 8;
export const SCRYPT_P = 1;
export const PBKDF2_ITERATIONS = 65535;
export const KDF_SALT_SIZE = 32;
export const MIN_PASSPHRASE_LENGTH = 5;
// Node refuses scrypt above 32 MiB by default; n=65536, r=8 needs 64 MiB.
const SCRYPT_MIN_MAXMEM = 256 * 1024 * 1024;
// Bounds on parameters read from a file, so a hostile key file cannot make us spin or swap.
const SCRYPT_MAX_N = 1 << 20;
const SCRYPT_MAX_RP = 16;
const SCRYPT_MAX_MEM = 1024 * 1024 * 1024; // PBS allows 1025 MiB
const PBKDF2_MAX_ITER = 10_000_000;

export type KdfKind = "scrypt" | "pbkdf2" | "none";

export type KdfConfig =
  | { kind: "scrypt"; n: number; r: number; p: number; salt: Buffer }
  | { kind: "pbkdf2"; iter: number; salt: Buffer };

export interface CreateKeyOptions {
  /** Default "scrypt". */
  kdf?: KdfKind;
  hint?: string;
  /** Epoch seconds for created/modified; now when absent. */
  now?: number;
  /** Fixed salt and IV, for golden fixtures and tests only. */
  testSalt?: Uint8Array;
  testIv?: Uint8Array;
}

function keyFileError(message: string): FormatError {
  return new FormatError("ERR_KEY_FILE", `key file: ${message}`);
}

function toBytes(passphrase: string | Uint8Array): Buffer {
  return typeof passphrase === "string" ? Buffer.from(passphrase, "utf8") : Buffer.from(passphrase);
}

async function deriveKey(kdf: KdfConfig, passphrase: Buffer): Promise<Buffer> {
  if (kdf.kind === "scrypt") {
    const maxmem = Math.max(SCRYPT_MIN_MAXMEM, 2 * 128 * kdf.n * kdf.r);
    return scryptAsync(passphrase, kdf.salt, KEY_SIZE, { N: kdf.n, r: kdf.r, p: kdf.p, maxmem });
  }
  return pbkdf2Async(passphrase, kdf.salt, kdf.iter, KEY_SIZE, "sha256");
}

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

function fromBase64(v: unknown, what: string): Buffer {
  if (typeof v !== "string" || v.length % 4 !== 0 || !BASE64_RE.test(v)) throw keyFileError(`${what} must be base64`);
  return Buffer.from(v, "base64");
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function boundedInt(v: unknown, min: number, max: number, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) throw keyFileError(`${what} must be an integer in ${min}..${max}`);
  return v;
}

function parseKdf(v: unknown): KdfConfig | null {
  if (v === null || v === undefined || v === "None") return null;
  if (isObject(v) && isObject(v.Scrypt)) {
    const s = v.Scrypt;
    const n = boundedInt(s.n, 2, SCRYPT_MAX_N, "kdf.Scrypt.n");
    if ((n & (n - 1)) !== 0) throw keyFileError("kdf.Scrypt.n must be a power of two");
    const r = boundedInt(s.r, 1, SCRYPT_MAX_RP, "kdf.Scrypt.r");
    if (128 * n * r > SCRYPT_MAX_MEM) throw keyFileError(`kdf.Scrypt n=${n} r=${r} needs more than ${SCRYPT_MAX_MEM} bytes`);
    return { kind: "scrypt", n, r, p: boundedInt(s.p, 1, SCRYPT_MAX_RP, "kdf.Scrypt.p"), salt: fromBase64(s.salt, "kdf.Scrypt.salt") };
  }
  if (isObject(v) && isObject(v.PBKDF2)) {
    const s = v.PBKDF2;
    return { kind: "pbkdf2", iter: boundedInt(s.iter, 1, PBKDF2_MAX_ITER, "kdf.PBKDF2.iter"), salt: fromBase64(s.salt, "kdf.PBKDF2.salt") };
  }
  throw keyFileError('kdf must be null, {"Scrypt": {...}} or {"PBKDF2": {...}}');
}

function kdfJson(kdf: KdfConfig | null): unknown {
  if (kdf === null) return null;
  if (kdf.kind === "scrypt") return { Scrypt: { n: kdf.n, r: kdf.r, p: kdf.p, salt: kdf.salt.toString("base64") } };
  return { PBKDF2: { iter: kdf.iter, salt: kdf.salt.toString("base64") } };
}

/** PBS writes RFC 3339; epoch numbers are accepted too. */
function parseTime(v: unknown, what: string): number {
  if (typeof v === "number" && Number.isSafeInteger(v)) return v;
  if (typeof v === "string") {
    const ms = Date.parse(v);
    if (Number.isFinite(ms) && /^\d{4}-\d\d-\d\dT/.test(v)) return Math.floor(ms / 1000);
  }
  throw keyFileError(`${what} must be an RFC 3339 time or epoch seconds`);
}

function rfc3339(epoch: number): string {
  return new Date(epoch * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

export interface KeyConfigFields {
  kdf: KdfConfig | null;
  created: number;
  modified: number;
  data: Buffer;
  fingerprint?: Buffer;
  hint?: string;
}

export class KeyConfig {
  /** null: the key is stored unencrypted. */
  kdf: KdfConfig | null;
  /** Epoch seconds. */
  created: number;
  modified: number;
  /** `iv(16) | tag(16) | AES-256-GCM(derived key, raw key)`, or the bare key without a kdf. */
  data: Buffer;
  /** Full 32-byte fingerprint of the key inside. */
  fingerprint: Buffer | undefined;
  hint: string | undefined;

  constructor(fields: KeyConfigFields) {
    this.kdf = fields.kdf;
    this.created = fields.created;
    this.modified = fields.modified;
    this.data = fields.data;
    this.fingerprint = fields.fingerprint;
    this.hint = fields.hint;
  }

  /** Protects `key` with `passphrase` (ignored, and may be omitted, with kdf "none"). */
  static async create(key: Uint8Array, passphrase: string | Uint8Array | undefined, options: CreateKeyOptions = {}): Promise<KeyConfig> {
    const crypt = new CryptConfig(key);
    const now = options.now ?? Math.floor(Date.now() / 1000);
    const kind = options.kdf ?? "scrypt";
    const base = { created: now, modified: now, fingerprint: crypt.fingerprint(), hint: options.hint };
    if (kind === "none") return new KeyConfig({ ...base, kdf: null, data: Buffer.from(key) });
    if (passphrase === undefined) throw new FormatError("ERR_PASSPHRASE_TOO_SHORT", "a passphrase is needed to protect the key");
    const pw = toBytes(passphrase);
    if (pw.length < MIN_PASSPHRASE_LENGTH) {
      throw new FormatError("ERR_PASSPHRASE_TOO_SHORT", `passphrase must be at least ${MIN_PASSPHRASE_LENGTH} bytes, got ${pw.length}`);
    }
    const salt = Buffer.from(options.testSalt ?? randomBytes(KDF_SALT_SIZE));
    const kdf: KdfConfig =
      kind === "scrypt" ? { kind, n: SCRYPT_N, r: SCRYPT_R, p: SCRYPT_P, salt } : { kind: "pbkdf2", iter: PBKDF2_ITERATIONS, salt };
    const derived = await deriveKey(kdf, pw);
    const iv = Buffer.from(options.testIv ?? randomBytes(IV_SIZE));
    const cipher = createCipheriv("aes-256-gcm", derived, iv);
    const encrypted = Buffer.concat([cipher.update(key), cipher.final()]);
    return new KeyConfig({ ...base, kdf, data: Buffer.concat([iv, cipher.getAuthTag(), encrypted]) });
  }

  /** A new random key and its key file. */
  static async generate(passphrase: string | Uint8Array | undefined, options: CreateKeyOptions = {}): Promise<{ key: Buffer; config: KeyConfig }> {
    const key = CryptConfig.generateKey();
    return { key, config: await KeyConfig.create(key, passphrase, options) };
  }

  static parse(text: string | Uint8Array): KeyConfig {
    let json: unknown;
    try {
      json = JSON.parse(typeof text === "string" ? text : Buffer.from(text).toString("utf8"));
    } catch (err) {
      throw new FormatError("ERR_KEY_FILE", `key file is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
    if (!isObject(json)) throw keyFileError("top level is not an object");
    let fingerprint: Buffer | undefined;
    if (json.fingerprint !== undefined && json.fingerprint !== null) {
      fingerprint = typeof json.fingerprint === "string" ? fromColonHex(json.fingerprint) : undefined;
      if (fingerprint?.length !== 32) throw keyFileError("fingerprint must be 32 colon-separated hex bytes");
    }
    if (json.hint !== undefined && json.hint !== null && typeof json.hint !== "string") throw keyFileError("hint must be a string");
    return new KeyConfig({
      kdf: parseKdf(json.kdf),
      created: parseTime(json.created, "created"),
      modified: parseTime(json.modified, "modified"),
      data: fromBase64(json.data, "data"),
      fingerprint,
      hint: typeof json.hint === "string" ? json.hint : undefined,
    });
  }

  static async load(path: string): Promise<KeyConfig> {
    return KeyConfig.parse(await readFile(path));
  }

  toJSON(): Record<string, unknown> {
    const json: Record<string, unknown> = {
      kdf: kdfJson(this.kdf),
      created: rfc3339(this.created),
      modified: rfc3339(this.modified),
      data: this.data.toString("base64"),
    };
    if (this.fingerprint !== undefined) json.fingerprint = colonHex(this.fingerprint);
    if (this.hint !== undefined) json.hint = this.hint;
    return json;
  }

  serialize(): string {
    return JSON.stringify(this.toJSON(), null, 2);
  }

  /** Writes the key file atomically with mode 0600. */
  async save(path: string): Promise<void> {
    const tmp = tmpPathFor(path);
    try {
      const fh = await open(tmp, "w", 0o600);
      try {
        await fh.writeFile(this.serialize());
        await fh.sync();
      } finally {
        await fh.close();
      }
      await commitTmp(tmp, path);
    } catch (err) {
      await removeQuietly(tmp);
      throw err;
    }
  }

  /**
   * The raw 32-byte key. A wrong passphrase is ERR_PASSPHRASE (the GCM tag cannot match, so
   * garbage is never returned); a key that does not match the stored fingerprint is ERR_KEY_FINGERPRINT.
   */
  async decrypt(passphrase?: string | Uint8Array): Promise<Buffer> {
    let key: Buffer;
    if (this.kdf === null) {
      key = Buffer.from(this.data);
    } else {
      if (passphrase === undefined) throw new FormatError("ERR_PASSPHRASE", "this key file needs a passphrase");
      if (this.data.length < IV_SIZE + TAG_SIZE) throw keyFileError(`data of ${this.data.length} bytes is shorter than iv and tag`);
      const derived = await deriveKey(this.kdf, toBytes(passphrase));
      const iv = this.data.subarray(0, IV_SIZE);
      const tag = this.data.subarray(IV_SIZE, IV_SIZE + TAG_SIZE);
      try {
        const decipher = createDecipheriv("aes-256-gcm", derived, iv);
        decipher.setAuthTag(tag);
        key = Buffer.concat([decipher.update(this.data.subarray(IV_SIZE + TAG_SIZE)), decipher.final()]);
      } catch (err) {
        throw new FormatError("ERR_PASSPHRASE", "unable to decrypt key: wrong passphrase (or damaged key file)", { cause: err });
      }
    }
    if (key.length !== KEY_SIZE) throw keyFileError(`key inside is ${key.length} bytes, expected ${KEY_SIZE}`);
    if (this.fingerprint !== undefined) {
      const actual = new CryptConfig(key).fingerprint();
      if (!actual.equals(this.fingerprint)) {
        throw new FormatError(
          "ERR_KEY_FINGERPRINT",
          `key file says fingerprint ${colonHex(this.fingerprint.subarray(0, 8))} but the key inside has ${colonHex(actual.subarray(0, 8))}`,
        );
      }
    }
    return key;
  }

  /** Decrypts and wraps the key in a CryptConfig. */
  async open(passphrase?: string | Uint8Array): Promise<CryptConfig> {
    return new CryptConfig(await this.decrypt(passphrase));
  }

  /** Same key under a new passphrase (or kdf); `created` and the fingerprint are kept. */
  async changePassphrase(
    oldPassphrase: string | Uint8Array | undefined,
    newPassphrase: string | Uint8Array | undefined,
    options: CreateKeyOptions = {},
  ): Promise<KeyConfig> {
    const key = await this.decrypt(oldPassphrase);
    const next = await KeyConfig.create(key, newPassphrase, { kdf: this.kdf?.kind ?? "none", hint: this.hint, ...options });
    next.created = this.created;
    return next;
  }
}
