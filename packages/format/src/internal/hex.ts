// Hex helpers for digests and fingerprints. Digests travel as lowercase hex in file names,
// the manifest and the protocol; fingerprints as colon-separated hex pairs (PBS style).

import { FormatError } from "../errors.js";

export const DIGEST_SIZE = 32;

const HEX_RE = /^[0-9a-fA-F]*$/;

export function digestHex(digest: Uint8Array): string {
  return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength).toString("hex");
}

/** Parses a 64-character hex digest; anything else is an ERR_DIGEST_LENGTH. */
export function digestFromHex(hex: string): Buffer {
  if (hex.length !== DIGEST_SIZE * 2 || !HEX_RE.test(hex)) {
    throw new FormatError("ERR_DIGEST_LENGTH", `digest must be ${DIGEST_SIZE * 2} hex characters, got ${JSON.stringify(hex.slice(0, 80))}`);
  }
  return Buffer.from(hex, "hex");
}

/** Parses any even-length hex string; returns undefined when it is not hex. */
export function tryHex(hex: string): Buffer | undefined {
  if (hex.length % 2 !== 0 || !HEX_RE.test(hex)) return undefined;
  return Buffer.from(hex, "hex");
}

export function colonHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(":");
}

/** Parses "aa:bb:…" back into bytes; undefined when malformed. */
export function fromColonHex(text: string): Buffer | undefined {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2})*$/.test(text)) return undefined;
  return Buffer.from(text.replaceAll(":", ""), "hex");
}

export function assertDigest(digest: Uint8Array, what: string): void {
  if (digest.length !== DIGEST_SIZE) {
    throw new FormatError("ERR_DIGEST_LENGTH", `${what} must be ${DIGEST_SIZE} bytes, got ${digest.length}`);
  }
}
