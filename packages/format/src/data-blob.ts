// Data blobs: the container for every chunk in the store and for small files such as the
// manifest (spec: format.md, "Data blob"). Four kinds, told apart by magic: plain, zstd level 1,
// AES-256-GCM, and zstd-then-AES. The CRC-32 covers everything after the header (for
// encrypted blobs: the ciphertext) so the server can check integrity without a key.

import { createHash, randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";
import { type CryptConfig, IV_SIZE, TAG_SIZE } from "./crypt-config.js";
import { FormatError } from "./errors.js";
import { assertDigest } from "./internal/hex.js";
import { compressIfSmaller, decompressBounded } from "./internal/zstd.js";
import {
  COMPRESSED_BLOB_MAGIC,
  ENCR_COMPR_BLOB_MAGIC,
  ENCRYPTED_BLOB_MAGIC,
  MAGIC_SIZE,
  UNCOMPRESSED_BLOB_MAGIC,
} from "./magic.js";

export const BLOB_OFFSET_MAGIC = 0;
export const BLOB_OFFSET_CRC = 8;
/** Plain header: magic(8) | crc32(4). */
export const BLOB_HEADER_SIZE = 12;
export const BLOB_OFFSET_IV = 12;
export const BLOB_OFFSET_TAG = 28;
/** Encrypted header: magic(8) | crc32(4) | iv(16) | tag(16). */
export const ENCRYPTED_BLOB_HEADER_SIZE = 44;
/** Largest payload a blob may carry, before compression and after decompression. */
export const MAX_BLOB_SIZE = 128 * 1024 * 1024;
/** Largest plain chunk the datastore accepts. */
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;

export type BlobKind = "plain" | "compressed" | "encrypted" | "encrypted-compressed";

export interface EncodeBlobOptions {
  /** Try zstd level 1; kept only when strictly smaller. Default false. */
  compress?: boolean;
  /**
   * zstd level when compressing (default 1, as PBS). Any level gives a standard zstd frame that
   * every reader decodes; higher levels store less and cost more CPU.
   */
  level?: number;
  /** Encrypt with this key (AES-256-GCM, fresh random IV). */
  crypt?: CryptConfig;
  /** Fixed IV, for golden fixtures and tests only: never reuse an IV with a real key. */
  testIv?: Uint8Array;
  /**
   * Leave this many free bytes in front of the blob in its own ArrayBuffer (default 0): a sender
   * can then write its frame header there instead of copying the blob into a frame.
   */
  headroom?: number;
}

export interface DecodeBlobOptions {
  /** Needed for encrypted blobs; ignored by plain ones. */
  crypt?: CryptConfig;
  /**
   * Expected chunk digest of the decoded data. As in PBS, it is the keyed digest
   * SHA-256(data ‖ id_key) for encrypted blobs and plain SHA-256(data) for unencrypted ones.
   */
  digest?: Uint8Array;
  /**
   * Scratch space for the decoded data: when a compressed payload's declared size fits, it is
   * decompressed straight into this buffer and the result is a view of it (no allocation per
   * blob). The caller must be done with the previous result before reusing the buffer.
   */
  into?: Buffer;
}

/** What the header says, without touching the payload. */
export interface BlobHeaderInfo {
  kind: BlobKind;
  encrypted: boolean;
  compressed: boolean;
  headerSize: number;
  crc: number;
}

function magicKind(raw: Uint8Array): BlobKind | undefined {
  const m = Buffer.from(raw.buffer, raw.byteOffset, MAGIC_SIZE);
  if (m.equals(UNCOMPRESSED_BLOB_MAGIC)) return "plain";
  if (m.equals(COMPRESSED_BLOB_MAGIC)) return "compressed";
  if (m.equals(ENCRYPTED_BLOB_MAGIC)) return "encrypted";
  if (m.equals(ENCR_COMPR_BLOB_MAGIC)) return "encrypted-compressed";
  return undefined;
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Reads the header of a blob; throws ERR_BLOB_SHORT or ERR_BLOB_MAGIC. */
export function readBlobHeader(raw: Uint8Array): BlobHeaderInfo {
  if (raw.length < MAGIC_SIZE) {
    throw new FormatError("ERR_BLOB_SHORT", `blob of ${raw.length} bytes is shorter than its ${MAGIC_SIZE}-byte magic`);
  }
  const kind = magicKind(raw);
  if (kind === undefined) {
    throw new FormatError("ERR_BLOB_MAGIC", `blob starts with unknown magic ${asBuffer(raw).subarray(0, MAGIC_SIZE).toString("hex")}`);
  }
  const encrypted = kind === "encrypted" || kind === "encrypted-compressed";
  const headerSize = encrypted ? ENCRYPTED_BLOB_HEADER_SIZE : BLOB_HEADER_SIZE;
  if (raw.length < headerSize) {
    throw new FormatError("ERR_BLOB_SHORT", `${kind} blob of ${raw.length} bytes is shorter than its ${headerSize}-byte header`);
  }
  return {
    kind,
    encrypted,
    compressed: kind === "compressed" || kind === "encrypted-compressed",
    headerSize,
    crc: asBuffer(raw).readUInt32LE(BLOB_OFFSET_CRC),
  };
}

/** The blob's kind from its magic alone (e.g. to refuse a plain→encrypted overwrite). */
export function blobKind(raw: Uint8Array): BlobKind {
  return readBlobHeader(raw).kind;
}

export function isEncryptedBlob(raw: Uint8Array): boolean {
  return readBlobHeader(raw).encrypted;
}

/** Checks magic, header length and CRC without decoding; throws a FormatError on any fault. */
export function verifyBlobCrc(raw: Uint8Array): BlobHeaderInfo {
  const info = readBlobHeader(raw);
  const actual = crc32(raw.subarray(info.headerSize));
  if (actual !== info.crc) {
    throw new FormatError(
      "ERR_BLOB_CRC",
      `${info.kind} blob CRC mismatch: header says ${info.crc.toString(16).padStart(8, "0")}, payload has ${actual.toString(16).padStart(8, "0")}`,
    );
  }
  return info;
}

function writeHeader(out: Buffer, magic: Buffer, headerSize: number): void {
  magic.copy(out, BLOB_OFFSET_MAGIC);
  out.writeUInt32LE(crc32(out.subarray(headerSize)), BLOB_OFFSET_CRC);
}

/** Wraps `data` in a blob of the kind the options ask for. */
export function encodeBlob(data: Uint8Array, options: EncodeBlobOptions = {}): Buffer {
  if (data.length > MAX_BLOB_SIZE) {
    throw new FormatError("ERR_BLOB_TOO_LARGE", `blob payload of ${data.length} bytes exceeds the limit of ${MAX_BLOB_SIZE}`);
  }
  const compressed = options.compress ? compressIfSmaller(data, options.level) : undefined;
  const payload = compressed ?? data;
  const crypt = options.crypt;
  const headroom = options.headroom ?? 0;
  if (!Number.isInteger(headroom) || headroom < 0 || headroom > 1 << 20) {
    throw new FormatError("ERR_BLOB_HEADROOM", `headroom must be an integer from 0 to ${1 << 20}, got ${String(headroom)}`);
  }
  const alloc = (n: number) => (headroom === 0 ? Buffer.allocUnsafe(n) : Buffer.allocUnsafeSlow(headroom + n).subarray(headroom));
  if (crypt === undefined) {
    const out = alloc(BLOB_HEADER_SIZE + payload.length);
    out.set(payload, BLOB_HEADER_SIZE);
    writeHeader(out, compressed ? COMPRESSED_BLOB_MAGIC : UNCOMPRESSED_BLOB_MAGIC, BLOB_HEADER_SIZE);
    return out;
  }
  const iv = options.testIv ?? randomBytes(IV_SIZE);
  const { ciphertext, tag } = crypt.encrypt(payload, iv);
  const out = alloc(ENCRYPTED_BLOB_HEADER_SIZE + ciphertext.length);
  out.set(iv, BLOB_OFFSET_IV);
  out.set(tag, BLOB_OFFSET_TAG);
  out.set(ciphertext, ENCRYPTED_BLOB_HEADER_SIZE);
  writeHeader(out, compressed ? ENCR_COMPR_BLOB_MAGIC : ENCRYPTED_BLOB_MAGIC, ENCRYPTED_BLOB_HEADER_SIZE);
  return out;
}

/** Checks and unwraps a blob: CRC first, then GCM tag, then zstd, then the digest if given. */
export function decodeBlob(raw: Uint8Array, options: DecodeBlobOptions = {}): Buffer {
  const info = verifyBlobCrc(raw);
  const body = asBuffer(raw).subarray(info.headerSize);
  if (!info.compressed && body.length > MAX_BLOB_SIZE) {
    throw new FormatError("ERR_BLOB_TOO_LARGE", `blob payload of ${body.length} bytes exceeds the limit of ${MAX_BLOB_SIZE}`);
  }
  let payload: Buffer;
  if (info.encrypted) {
    const crypt = options.crypt;
    if (crypt === undefined) {
      throw new FormatError("ERR_BLOB_NEEDS_KEY", `${info.kind} blob cannot be decoded without its key`);
    }
    const iv = asBuffer(raw).subarray(BLOB_OFFSET_IV, BLOB_OFFSET_IV + IV_SIZE);
    const tag = asBuffer(raw).subarray(BLOB_OFFSET_TAG, BLOB_OFFSET_TAG + TAG_SIZE);
    payload = crypt.decrypt(body, iv, tag);
  } else {
    payload = body;
  }
  // Plain payloads are copied so the result never aliases (or pins) the caller's raw buffer;
  // decompression and decryption already produce fresh buffers.
  const into = options.into;
  const data = info.compressed
    ? decompressBounded(payload, MAX_BLOB_SIZE, into)
    : info.encrypted
      ? payload
      : into !== undefined && into.length >= payload.length
        ? into.subarray(0, payload.copy(into))
        : Buffer.from(payload);
  if (options.digest !== undefined) {
    assertDigest(options.digest, "expected digest");
    const actual = chunkDigest(data, info.encrypted ? options.crypt : undefined);
    if (!actual.equals(options.digest)) {
      throw new FormatError(
        "ERR_DIGEST_MISMATCH",
        `${info.kind} blob decodes to data with digest ${actual.toString("hex")}, expected ${asBuffer(options.digest).toString("hex")}`,
      );
    }
  }
  return data;
}

/** The chunk digest PBS uses: keyed when the chunk is encrypted with `crypt`, else SHA-256. */
export function chunkDigest(data: Uint8Array, crypt?: CryptConfig): Buffer {
  return crypt !== undefined ? crypt.computeDigest(data) : createHash("sha256").update(data).digest();
}

/** Encodes a chunk and returns the digest that names it (keyed iff encrypted). */
export function encodeChunk(data: Uint8Array, options: EncodeBlobOptions = {}): { blob: Buffer; digest: Buffer } {
  return { blob: encodeBlob(data, options), digest: chunkDigest(data, options.crypt) };
}
