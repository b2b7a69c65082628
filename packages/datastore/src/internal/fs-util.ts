// Small file-system helpers shared by the datastore modules.

import fs from "node:fs";
import { errnoCode } from "../errors.js";

export function existsSync(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return false;
    throw err;
  }
}

/** Directory entries, or [] if the directory does not exist. */
export function readdirOrEmpty(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    const c = errnoCode(err);
    if (c === "ENOENT" || c === "ENOTDIR") return [];
    throw err;
  }
}

/** Write a small file atomically: `<file>.tmp` then rename. */
/** Writes `file` through `<file>.tmp` and a rename; on a failure (a full disk) the temp file goes. */
export function writeFileAtomic(file: string, data: string | Buffer): void {
  const tmp = `${file}.tmp`;
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

export function throwIfAborted(signal: AbortSignal | undefined, what: string, makeError: (m: string) => Error): void {
  if (signal?.aborted) throw makeError(`${what} aborted`);
}

export const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));
