// The snapshot manifest `index.json.blob` (spec: format.md, "Manifest"): what files a snapshot
// has, with sizes and csums, signed with the client's key. The signature is an HMAC over the
// canonical JSON of everything except `unprotected` and `signature`, which is why the server may
// write verify state and notes into `unprotected` without breaking it.

import { timingSafeEqual } from "node:crypto";
import { open, readFile } from "node:fs/promises";
import type { CryptConfig } from "./crypt-config.js";
import { decodeBlob, encodeBlob } from "./data-blob.js";
import { FormatError } from "./errors.js";
import { commitTmp, removeQuietly, tmpPathFor } from "./internal/atomic-file.js";
import { canonicalJson } from "./internal/canonical-json.js";
import { colonHex, fromColonHex, tryHex } from "./internal/hex.js";

export const MANIFEST_BLOB_NAME = "index.json.blob";
export const BACKUP_TYPES = ["vm", "ct", "host"] as const;
export type BackupType = (typeof BACKUP_TYPES)[number];
export const CRYPT_MODES = ["none", "encrypt", "sign-only"] as const;
export type CryptMode = (typeof CRYPT_MODES)[number];

/** `unprotected` key holding the fingerprint of the signing key (full 32 bytes, colon hex, as PBS). */
export const KEY_FINGERPRINT_KEY = "key-fingerprint";
/** `unprotected` key holding the last verify result. */
export const VERIFY_STATE_KEY = "verify_state";

export interface ManifestFile {
  filename: string;
  cryptMode: CryptMode;
  /** Index files: the archive's data size. Blobs: the raw blob file size. */
  size: number;
  /** Lowercase hex. Index files: index_csum. Blobs: SHA-256 of the raw blob file. */
  csum: string;
}

export interface VerifyState {
  state: "ok" | "failed";
  upid: string;
}

export interface ManifestInit {
  backupType: BackupType;
  backupId: string;
  /** Epoch seconds. */
  backupTime: number;
  files?: ManifestFile[];
  unprotected?: Record<string, unknown>;
  signature?: string;
}

export interface ManifestReadOptions {
  /** With a key, a manifest whose key fingerprint or signature does not match is refused. */
  crypt?: CryptConfig;
  /**
   * Refuse an unsigned manifest when a key is given. Default false, as in PBS, where a client
   * with a key may still read snapshots that were made without one.
   */
  requireSignature?: boolean;
}

function shapeError(message: string): FormatError {
  return new FormatError("ERR_MANIFEST_SHAPE", `manifest: ${message}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parseFile(v: unknown, i: number): ManifestFile {
  if (!isPlainObject(v)) throw shapeError(`files[${i}] is not an object`);
  const { filename, size, csum } = v;
  const cryptMode = v["crypt-mode"] ?? "none";
  if (typeof filename !== "string" || filename.length === 0) throw shapeError(`files[${i}].filename must be a non-empty string`);
  if (typeof cryptMode !== "string" || !(CRYPT_MODES as readonly string[]).includes(cryptMode)) {
    throw shapeError(`files[${i}].crypt-mode must be one of ${CRYPT_MODES.join(", ")}`);
  }
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) throw shapeError(`files[${i}].size must be a non-negative integer`);
  if (typeof csum !== "string" || csum.length !== 64 || tryHex(csum) === undefined) throw shapeError(`files[${i}].csum must be 64 hex characters`);
  return { filename, cryptMode: cryptMode as CryptMode, size, csum: csum.toLowerCase() };
}

function parseJson(text: string | Uint8Array): unknown {
  const str = typeof text === "string" ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString("utf8");
  try {
    return JSON.parse(str);
  } catch (err) {
    throw new FormatError("ERR_MANIFEST_JSON", `manifest is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

function signatureOf(json: Record<string, unknown>, crypt: CryptConfig): Buffer {
  const { unprotected: _u, signature: _s, ...signed } = json;
  return crypt.computeAuthTag(canonicalJson(signed));
}

/** The fingerprint check PBS does before the signature check, so a wrong key is named as such. */
function checkFingerprint(unprotected: Record<string, unknown>, crypt: CryptConfig): void {
  const stored = unprotected[KEY_FINGERPRINT_KEY];
  if (stored === undefined || stored === null) return;
  const bytes = typeof stored === "string" ? fromColonHex(stored) : undefined;
  if (bytes === undefined || (bytes.length !== 32 && bytes.length !== 8)) {
    throw shapeError(`unprotected.${KEY_FINGERPRINT_KEY} is not a colon-separated hex fingerprint`);
  }
  if (!bytes.equals(crypt.fingerprint().subarray(0, bytes.length))) {
    throw new FormatError(
      "ERR_KEY_FINGERPRINT",
      `manifest was signed with key ${colonHex(bytes.subarray(0, 8))}, not with the given key ${crypt.fingerprintString()}`,
    );
  }
}

function checkSignature(json: Record<string, unknown>, options: ManifestReadOptions): void {
  const crypt = options.crypt;
  if (crypt === undefined) return;
  checkFingerprint(isPlainObject(json.unprotected) ? json.unprotected : {}, crypt);
  const signature = json.signature;
  if (signature === undefined || signature === null) {
    if (options.requireSignature) throw new FormatError("ERR_MANIFEST_UNSIGNED", "manifest has no signature but one is required");
    return;
  }
  const given = typeof signature === "string" ? tryHex(signature) : undefined;
  const expected = signatureOf(json, crypt);
  if (given === undefined || given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new FormatError("ERR_MANIFEST_SIGNATURE", "manifest signature does not match its content under the given key");
  }
}

export class Manifest {
  backupType: BackupType;
  backupId: string;
  backupTime: number;
  files: ManifestFile[];
  unprotected: Record<string, unknown>;
  /** Hex HMAC, when signed. */
  signature: string | undefined;

  constructor(init: ManifestInit) {
    this.backupType = init.backupType;
    this.backupId = init.backupId;
    this.backupTime = init.backupTime;
    this.files = init.files ? init.files.map((f) => ({ ...f })) : [];
    this.unprotected = init.unprotected ? structuredClone(init.unprotected) : {};
    this.signature = init.signature;
  }

  /** Parses manifest JSON; with `crypt`, also checks fingerprint and signature (see options). */
  static parse(text: string | Uint8Array, options: ManifestReadOptions = {}): Manifest {
    const json = parseJson(text);
    if (!isPlainObject(json)) throw shapeError("top level is not an object");
    const type = json["backup-type"];
    const id = json["backup-id"];
    const time = json["backup-time"];
    if (typeof type !== "string" || !(BACKUP_TYPES as readonly string[]).includes(type)) {
      throw shapeError(`backup-type must be one of ${BACKUP_TYPES.join(", ")}`);
    }
    if (typeof id !== "string" || id.length === 0) throw shapeError("backup-id must be a non-empty string");
    if (typeof time !== "number" || !Number.isSafeInteger(time)) throw shapeError("backup-time must be an integer");
    if (!Array.isArray(json.files)) throw shapeError("files must be an array");
    const files = json.files.map(parseFile);
    const unprotected = json.unprotected ?? {};
    if (!isPlainObject(unprotected)) throw shapeError("unprotected must be an object");
    const signature = json.signature ?? undefined;
    if (signature !== undefined && typeof signature !== "string") throw shapeError("signature must be a hex string");
    // Checked on the parsed value, not on our re-serialization, so fields we do not model still count.
    checkSignature(json, options);
    return new Manifest({ backupType: type as BackupType, backupId: id, backupTime: time, files, unprotected, signature });
  }

  static fromBlob(raw: Uint8Array, options: ManifestReadOptions = {}): Manifest {
    return Manifest.parse(decodeBlob(raw), options);
  }

  static async load(path: string, options: ManifestReadOptions = {}): Promise<Manifest> {
    return Manifest.fromBlob(await readFile(path), options);
  }

  addFile(filename: string, size: number, csum: Uint8Array | string, cryptMode: CryptMode = "none"): ManifestFile {
    const hex = typeof csum === "string" ? csum.toLowerCase() : Buffer.from(csum).toString("hex");
    const file = parseFile({ filename, size, csum: hex, "crypt-mode": cryptMode }, this.files.length);
    if (this.lookupFile(filename) !== undefined) throw shapeError(`file ${filename} is already listed`);
    this.files.push(file);
    return file;
  }

  lookupFile(filename: string): ManifestFile | undefined {
    return this.files.find((f) => f.filename === filename);
  }

  get keyFingerprint(): string | undefined {
    const v = this.unprotected[KEY_FINGERPRINT_KEY];
    return typeof v === "string" ? v : undefined;
  }

  get verifyState(): VerifyState | undefined {
    const v = this.unprotected[VERIFY_STATE_KEY];
    if (!isPlainObject(v) || (v.state !== "ok" && v.state !== "failed") || typeof v.upid !== "string") return undefined;
    return { state: v.state, upid: v.upid };
  }

  set verifyState(state: VerifyState | undefined) {
    if (state === undefined) delete this.unprotected[VERIFY_STATE_KEY];
    else this.unprotected[VERIFY_STATE_KEY] = { state: state.state, upid: state.upid };
  }

  /** The JSON value, kebab-case, in PBS's field order. */
  toJSON(): Record<string, unknown> {
    const json: Record<string, unknown> = {
      "backup-type": this.backupType,
      "backup-id": this.backupId,
      "backup-time": this.backupTime,
      files: this.files.map((f) => ({ filename: f.filename, "crypt-mode": f.cryptMode, size: f.size, csum: f.csum })),
      unprotected: this.unprotected,
    };
    if (this.signature !== undefined) json.signature = this.signature;
    return json;
  }

  /** The exact bytes the signature covers. */
  signedContent(): string {
    const { unprotected: _u, signature: _s, ...signed } = this.toJSON();
    return canonicalJson(signed);
  }

  computeSignature(crypt: CryptConfig): string {
    return signatureOf(this.toJSON(), crypt).toString("hex");
  }

  /** Signs with `crypt` and records its fingerprint in `unprotected`, as PBS does. */
  sign(crypt: CryptConfig): this {
    this.signature = this.computeSignature(crypt);
    this.unprotected[KEY_FINGERPRINT_KEY] = crypt.fingerprintFull();
    return this;
  }

  /** Throws ERR_KEY_FINGERPRINT / ERR_MANIFEST_SIGNATURE / ERR_MANIFEST_UNSIGNED as `parse` would. */
  verify(crypt: CryptConfig, options: { requireSignature?: boolean } = {}): void {
    checkSignature(this.toJSON(), { crypt, requireSignature: options.requireSignature ?? true });
  }

  /** Pretty JSON as PBS writes it; signed first when a key is given. */
  serialize(crypt?: CryptConfig): string {
    if (crypt !== undefined) this.sign(crypt);
    return JSON.stringify(this.toJSON(), null, 2);
  }

  /** `index.json.blob` bytes: zstd-compressed, never encrypted (the server must read it). */
  toBlob(crypt?: CryptConfig): Buffer {
    return encodeBlob(Buffer.from(this.serialize(crypt), "utf8"), { compress: true });
  }

  async save(path: string, crypt?: CryptConfig): Promise<void> {
    const blob = this.toBlob(crypt);
    const tmp = tmpPathFor(path);
    try {
      const fh = await open(tmp, "w");
      try {
        await fh.writeFile(blob);
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
}
