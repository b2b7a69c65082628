// `cairn catalog ls SNAPSHOT [PATH] [--archive NAME]`: lists a directory of a file-tree archive
// through its catalog (.ccat), reading only the catalog's chunks, never the archive itself.

import { type CatalogEntry, displayPath, openCatalog } from "@cairn/archive";
import type { CryptConfig } from "@cairn/format";
import type { Connection } from "../connection.js";
import { lookupArchivePath, normalizeArchivePath } from "../archive-path.js";
import { ClientError } from "../errors.js";
import { ChunkPool } from "../pipeline.js";
import { openIndex, openSnapshot, randomAccess } from "../remote.js";
import type { SnapshotSpec } from "../snapshot-spec.js";

export interface CatalogListing {
  snapshot: string;
  archive: string;
  path: string;
  entries: Array<{ name: string; type: string; size: number; mtime: string; path: string }>;
}

export async function catalogList(conn: Connection, spec: SnapshotSpec, dir: string, archive: string | undefined, crypt?: { crypt: CryptConfig; key: Buffer }): Promise<CatalogListing> {
  const snap = await openSnapshot(conn, spec, crypt?.crypt);
  const pool = new ChunkPool({ key: crypt?.key, workers: 1 });
  try {
    const catalogs = snap.manifest.files.map((f) => f.filename).filter((f) => f.endsWith(".ccat.didx"));
    if (catalogs.length === 0) throw new ClientError("ERR_ARCHIVE_MISSING", `snapshot ${snap.name} has no catalog (no file-tree archive)`);
    let file = catalogs[0];
    if (archive !== undefined) {
      const base = archive.replace(/\.(didx|fidx)$/, "").replace(/\.(m|p)?cxar$/, "");
      file = `${base}.ccat.didx`;
      if (!catalogs.includes(file)) throw new ClientError("ERR_ARCHIVE_MISSING", `snapshot ${snap.name} has no catalog for ${archive} (catalogs: ${catalogs.join(", ")})`);
    }
    const cat = await openCatalog(randomAccess(snap, await openIndex(snap, file), pool));
    const sub = normalizeArchivePath(dir);
    const found = sub === "" ? { path: Buffer.alloc(0), entry: cat.root() } : await lookupArchivePath(cat, sub);
    if (!found) throw new ClientError("ERR_ARCHIVE_MISSING", `no path "${displayPath(Buffer.from(sub))}" in ${file.replace(".ccat.didx", ".cxar")}`);
    const e = found.entry;
    const list: CatalogEntry[] = e.kind === "dir" ? await cat.list(found.path) : [e];
    return {
      snapshot: snap.name,
      archive: file.replace(".ccat.didx", ".cxar"),
      path: `/${displayPath(found.path)}`,
      entries: list.map((x) => ({
        name: displayPath(x.name),
        type: x.kind,
        size: x.kind === "file" ? x.size : 0,
        // floored to the millisecond (BigInt division truncates: 1 ns before 1970 would show 1970)
        mtime: new Date(Number(x.mtimeNs >= 0n ? x.mtimeNs / 1_000_000n : -((-x.mtimeNs + 999_999n) / 1_000_000n))).toISOString(),
        path: `/${displayPath(x.path)}`,
      })),
    };
  } finally {
    await snap.reader.close().catch(() => {});
    await pool.close();
  }
}
