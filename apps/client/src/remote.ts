// Reading a snapshot on the server: pick the snapshot (`host/ID` = newest finished), check its
// manifest (signature and key fingerprint when a key is given; an encrypted snapshot needs one),
// download indexes checked against the manifest's size and csum, and read archives either as an
// ordered stream (a window of chunk downloads, decoded by the worker pool) or at random offsets
// (a small chunk cache with read-ahead, for split payloads and single-file restore).

import type { RandomAccessReader } from "@cairn/archive";
import { type CryptConfig, DynamicIndexReader, FixedIndexReader, Manifest, type ManifestFile } from "@cairn/format";
import { BackupReader, CairnClient } from "@cairn/protocol/client";
import type { Connection } from "./connection.js";
import { ClientError } from "./errors.js";
import type { ChunkPool } from "./pipeline.js";
import { formatSnapshot, type SnapshotSpec } from "./snapshot-spec.js";

export type IndexReader = DynamicIndexReader | FixedIndexReader;

export async function resolveSnapshotTime(conn: Connection, spec: SnapshotSpec): Promise<number> {
  if (spec.time !== undefined) return spec.time;
  const client = new CairnClient(conn.connect);
  try {
    const list = await client.listSnapshots(conn.store, { ns: conn.ns, "backup-type": spec.type, "backup-id": spec.id });
    const done = list.filter((s) => s.finished).sort((a, b) => b["backup-time"] - a["backup-time"]);
    if (done.length === 0) throw new ClientError("ERR_NO_SNAPSHOT", `group ${spec.type}/${spec.id} has no finished snapshot`);
    return done[0]["backup-time"];
  } finally {
    await client.close();
  }
}

export interface OpenSnapshot {
  reader: BackupReader;
  manifest: Manifest;
  time: number;
  name: string;
}

function isEncrypted(m: Manifest): boolean {
  return m.files.some((f) => f.cryptMode === "encrypt") || m.keyFingerprint !== undefined;
}

export async function openSnapshot(conn: Connection, spec: SnapshotSpec, crypt?: CryptConfig): Promise<OpenSnapshot> {
  const time = await resolveSnapshotTime(conn, spec);
  const reader = await BackupReader.open({ ...conn.connect, store: conn.store, ns: conn.ns, backupType: spec.type, backupId: spec.id, backupTime: time, crypt, maxInFlight: 16 });
  try {
    const raw = await reader.download("index.json.blob");
    let manifest: Manifest;
    try {
      manifest = Manifest.fromBlob(raw, { crypt });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "ERR_KEY_FINGERPRINT") throw new ClientError("ERR_WRONG_KEY", `wrong key: ${(err as Error).message}`);
      if (code === "ERR_MANIFEST_SIGNATURE") throw new ClientError("ERR_WRONG_KEY", "manifest signature does not match this key: the manifest was altered or signed with another key");
      throw err;
    }
    if (!crypt && isEncrypted(manifest)) {
      throw new ClientError("ERR_KEY", `snapshot ${formatSnapshot(spec.type, spec.id, time)} is encrypted (key ${manifest.keyFingerprint?.slice(0, 23) ?? "?"}): pass --keyfile`);
    }
    return { reader, manifest, time, name: formatSnapshot(spec.type, spec.id, time) };
  } catch (err) {
    await reader.close().catch(() => {});
    throw err;
  }
}

/** Downloads an index and checks it against the manifest entry. */
export async function openIndex(snap: OpenSnapshot, file: string): Promise<IndexReader> {
  const entry: ManifestFile | undefined = snap.manifest.lookupFile(file);
  if (!entry) throw new ClientError("ERR_ARCHIVE_MISSING", `snapshot ${snap.name} has no file ${file}`);
  const buf = await snap.reader.download(file);
  const opts = { expectedCsum: Buffer.from(entry.csum, "hex"), expectedSize: entry.size };
  return file.endsWith(".fidx") ? FixedIndexReader.fromBuffer(buf, opts) : DynamicIndexReader.fromBuffer(buf, opts);
}

function digestOf(index: IndexReader, i: number): string {
  return Buffer.from(index.chunkInfo(i).digest).toString("hex");
}

/** The archive's bytes in order; `window` chunk downloads in flight, decoded in the pool. */
export async function* streamIndex(snap: OpenSnapshot, index: IndexReader, pool: ChunkPool, window = 8): AsyncGenerator<Buffer> {
  const n = index.chunkCount;
  const fetch = (i: number) => {
    const digest = digestOf(index, i);
    const p = snap.reader.chunk(digest).then((raw) => pool.decode([raw], [digest]).then((d) => d[0]));
    // A chunk fetched ahead fails where it is awaited. Left unawaited (the consumer stopped
    // without closing this generator, as the extractor does when a restore is stopped), its
    // rejection would otherwise be unhandled and end the process with a stack trace.
    p.catch(() => {});
    return p;
  };
  const inFlight: Promise<Buffer>[] = [];
  let next = 0;
  while (next < n && inFlight.length < window) inFlight.push(fetch(next++));
  while (inFlight.length > 0) {
    const data = await inFlight.shift()!;
    if (next < n) inFlight.push(fetch(next++));
    yield data;
  }
}

/** Random access over an index with a chunk cache; reading chunk i prefetches the next few. */
export function randomAccess(snap: OpenSnapshot, index: IndexReader, pool: ChunkPool, cacheChunks = 12, readAhead = 4): RandomAccessReader {
  const cache = new Map<number, Promise<Buffer>>();
  const load = (i: number): Promise<Buffer> => {
    let p = cache.get(i);
    if (p) {
      cache.delete(i);
      cache.set(i, p);
      return p;
    }
    const digest = digestOf(index, i);
    p = snap.reader.chunk(digest).then((raw) => pool.decode([raw], [digest]).then((d) => d[0]));
    p.catch(() => cache.delete(i));
    cache.set(i, p);
    while (cache.size > cacheChunks) cache.delete(cache.keys().next().value as number);
    return p;
  };
  return {
    size: index.size,
    async read(offset: number, length: number): Promise<Buffer> {
      const end = Math.min(offset + length, index.size);
      const parts: Buffer[] = [];
      let pos = offset;
      while (pos < end) {
        const i = index.chunkFromOffset(pos)!;
        const info = index.chunkInfo(i);
        const data = load(i);
        for (let k = 1; k <= readAhead && i + k < index.chunkCount; k++) if (!cache.has(i + k)) load(i + k).catch(() => {});
        const buf = await data;
        const from = pos - info.start;
        const to = Math.min(end, info.end) - info.start;
        parts.push(buf.subarray(from, to));
        pos = info.start + to;
      }
      return parts.length === 1 ? parts[0] : Buffer.concat(parts);
    },
  };
}
