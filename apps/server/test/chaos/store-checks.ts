// What every fault-injection scenario checks at its end: no temp file anywhere in the store,
// no unfinished snapshot folder, every chunk file a valid blob under its own digest, and each
// snapshot restoring to the bytes the client backed up. Also the mode switch (short/long).

import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { decodeBlob } from "@cairn/format";
import { BackupReader } from "@cairn/protocol";

/** `CAIRN_CHAOS=long` runs the long version (pnpm test:chaos); anything else the CI one. */
export const LONG = process.env.CAIRN_CHAOS === "long";

export function walk(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

export function tempFiles(root: string): string[] {
  return walk(root).filter((f) => /\.tmp(_|$)/.test(path.basename(f)));
}

/** Snapshot folders (`host/<id>/<time>/`) without a manifest. */
export function unfinishedSnapshots(root: string): string[] {
  const out: string[] = [];
  const hostDir = path.join(root, "host");
  if (!fs.existsSync(hostDir)) return out;
  for (const g of fs.readdirSync(hostDir)) {
    const gdir = path.join(hostDir, g);
    if (!fs.statSync(gdir).isDirectory()) continue;
    for (const s of fs.readdirSync(gdir)) {
      const sdir = path.join(gdir, s);
      if (fs.statSync(sdir).isDirectory() && !fs.existsSync(path.join(sdir, "index.json.blob"))) out.push(sdir);
    }
  }
  return out;
}

/** Chunk files whose content is not a valid blob of the data named by the file (plain chunks). */
export function badChunkFiles(root: string): string[] {
  const dir = path.join(root, ".chunks");
  const bad: string[] = [];
  for (const f of walk(dir)) {
    const name = path.basename(f);
    if (!/^[0-9a-f]{64}$/.test(name)) continue;
    try {
      const data = decodeBlob(fs.readFileSync(f));
      if (createHash("sha256").update(data).digest("hex") !== name) bad.push(f);
    } catch {
      bad.push(f);
    }
  }
  return bad;
}

export async function restoreHash(conn: { url: string; fingerprint: string; auth: { tokenId: string; secret: string } }, backupId: string, backupTime: number, archive = "data.didx", store = "store1"): Promise<string> {
  const r = await BackupReader.open({ ...conn, store, backupType: "host", backupId, backupTime });
  try {
    const sha = createHash("sha256");
    for await (const b of r.readArchive(archive)) sha.update(b);
    return sha.digest("hex");
  } finally {
    await r.close();
  }
}
