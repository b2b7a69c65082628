// The write-to-tmp-then-rename discipline for index files: data goes to `name.tmp`, is
// fsynced, renamed over `name`, and the directory is fsynced so the rename survives a crash.

import { open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";

export function tmpPathFor(path: string): string {
  return `${path}.tmp`;
}

export async function commitTmp(tmp: string, path: string): Promise<void> {
  await rename(tmp, path);
  try {
    const dir = await open(dirname(path), "r");
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // Some file systems refuse fsync on directories; the rename itself has happened.
  }
}

export async function removeQuietly(path: string): Promise<void> {
  await rm(path, { force: true });
}
