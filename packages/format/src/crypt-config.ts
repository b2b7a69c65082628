// CryptConfig: everything derived from one 32-byte encryption key (spec: format.md, "Keys and
// digests"). It names chunks (keyed digest), signs manifests (HMAC auth tag), identifies the
// key (fingerprint) and does the AES-256-GCM work for encrypted blobs.

import { createCipheriv, createDecipheriv, createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { FormatError } from "./errors.js";
import { colonHex } from "./internal/hex.js";

export const KEY_SIZE = 32;
export const IV_SIZE = 16;
export const TAG_SIZE = 16;

const ID_KEY_SALT = "_id_key";
const ID_KEY_ITERATIONS = 10;
/** SHA-256 of the fingerprint label; the fingerprint is the keyed digest of these 32 bytes. */
export const FINGERPRINT_INPUT: Readonly<Buffer> = createHash("sha256")
  .update("Proxmox Backup Encryption Key Fingerprint")
  .digest();
/** Bytes of the fingerprint shown to people (the full 32 bytes are stored in files). */
export const FINGERPRINT_SHORT_SIZE = 8;

export class CryptConfig {
  readonly #encKey: Buffer;
  readonly #idKey: Buffer;
  readonly #fingerprint: Buffer;

  constructor(key: Uint8Array) {
    if (key.length !== KEY_SIZE) {
      throw new FormatError("ERR_KEY_LENGTH", `encryption key must be ${KEY_SIZE} bytes, got ${key.length}`);
    }
    this.#encKey = Buffer.from(key);
    this.#idKey = pbkdf2Sync(this.#encKey, ID_KEY_SALT, ID_KEY_ITERATIONS, KEY_SIZE, "sha256");
    this.#fingerprint = this.computeDigest(FINGERPRINT_INPUT);
  }

  /** A fresh random key, as `proxmox-backup-client key create` makes. */
  static generateKey(): Buffer {
    return randomBytes(KEY_SIZE);
  }

  /** Chunk digest under this key: SHA-256(data ‖ id_key), so two keys never share chunk names. */
  computeDigest(data: Uint8Array): Buffer {
    return createHash("sha256").update(data).update(this.#idKey).digest();
  }

  /** HMAC-SHA256 keyed with id_key; signs manifests. */
  computeAuthTag(data: Uint8Array | string): Buffer {
    return createHmac("sha256", this.#idKey).update(data).digest();
  }

  /** The full 32-byte fingerprint (what key files and manifests store). */
  fingerprint(): Buffer {
    return Buffer.from(this.#fingerprint);
  }

  /** The fingerprint as shown to people: first 8 bytes, hex, colon-separated. */
  fingerprintString(): string {
    return colonHex(this.#fingerprint.subarray(0, FINGERPRINT_SHORT_SIZE));
  }

  /** All 32 bytes colon-separated, the form PBS serializes into key files and manifests. */
  fingerprintFull(): string {
    return colonHex(this.#fingerprint);
  }

  /** AES-256-GCM, no additional data. Returns the tag separately, as the blob header stores it. */
  encrypt(plain: Uint8Array, iv: Uint8Array): { ciphertext: Buffer; tag: Buffer } {
    if (iv.length !== IV_SIZE) {
      throw new FormatError("ERR_KEY_LENGTH", `AES-GCM iv must be ${IV_SIZE} bytes, got ${iv.length}`);
    }
    const cipher = createCipheriv("aes-256-gcm", this.#encKey, iv);
    const head = cipher.update(plain);
    const tail = cipher.final();
    const ciphertext = tail.length === 0 ? head : Buffer.concat([head, tail]);
    return { ciphertext, tag: cipher.getAuthTag() };
  }

  /** Reverses `encrypt`; a wrong key or any altered byte of iv, tag or ciphertext is ERR_BLOB_DECRYPT. */
  decrypt(ciphertext: Uint8Array, iv: Uint8Array, tag: Uint8Array): Buffer {
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.#encKey, iv);
      decipher.setAuthTag(tag);
      const head = decipher.update(ciphertext);
      const tail = decipher.final();
      return tail.length === 0 ? head : Buffer.concat([head, tail]);
    } catch (err) {
      throw new FormatError("ERR_BLOB_DECRYPT", "AES-GCM authentication failed: wrong key, or the blob's iv, tag or ciphertext was altered", { cause: err });
    }
  }
}
