// Reading and rewriting the manifest blob `index.json.blob` (format.md "Manifest"): a data blob
// holding kebab-case JSON. The datastore needs only the fields below and must keep everything else
// (signature, unprotected data) intact when it updates `unprotected`.

import fs from "node:fs";
import { decodeBlob, encodeBlob } from "@cairn/format";
import { DatastoreError, errnoCode } from "../errors.js";

export interface ManifestFile {
  filename: string;
  "crypt-mode": "none" | "encrypt" | "sign-only";
  size: number;
  csum: string;
}

export interface VerifyState {
  state: "ok" | "failed";
  upid: string;
}

export interface ManifestData {
  "backup-type": string;
  "backup-id": string;
  "backup-time": number;
  files: ManifestFile[];
  unprotected?: Record<string, unknown> & { verify_state?: VerifyState; notes?: string };
  signature?: string | null;
  [key: string]: unknown;
}

export function parseManifestBlob(raw: Buffer, where: string): ManifestData {
  let json: unknown;
  try {
    json = JSON.parse(decodeBlob(raw).toString("utf8"));
  } catch (err) {
    throw new DatastoreError("ERR_BAD_MANIFEST", `manifest ${where} is unreadable: ${(err as Error).message}`, {
      resource: where,
      cause: err,
    });
  }
  const m = json as ManifestData;
  if (!m || typeof m !== "object" || !Array.isArray(m.files)) {
    throw new DatastoreError("ERR_BAD_MANIFEST", `manifest ${where} has no files list`, { resource: where });
  }
  return m;
}

/** The manifest of a snapshot folder, or undefined when it has none (unfinished). */
export function readManifestFile(file: string): ManifestData | undefined {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return undefined;
    throw err;
  }
  return parseManifestBlob(raw, file);
}

export function encodeManifest(m: ManifestData): Buffer {
  return encodeBlob(Buffer.from(JSON.stringify(m), "utf8"), { compress: true });
}

/** Write the manifest blob atomically: `<file>.tmp`, fsync, rename. */
export function writeManifestRaw(file: string, raw: Buffer): void {
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, "w", 0o644);
  try {
    fs.writeSync(fd, raw);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}
