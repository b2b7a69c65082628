// `cairn backup`: one snapshot from file trees (`name.cxar:/dir`) and images (`name.img:/file`).
// Trees are encoded as .cxar (legacy) or split .mcxar + .pcxar (metadata change detection, which
// re-uses unchanged files' payload chunks without reading them); images are cut into 4 MiB
// chunks (.fidx). Chunks go through the worker pool (hash, compress, encrypt) and the session's
// upload window; a catalog per tree is uploaded too; the manifest is signed when a key is used.

import fs from "node:fs";
import os from "node:os";
import { type ArchiveWarning, type EncodeStats, checkExcludePatterns, encodeArchive, collectSink, newEncodeStats, openMetadataIndex, reuseFromPrevious } from "@cairn/archive";
import { chunkStream, resolveChunkerOptions } from "@cairn/chunker";
import { type CryptConfig, DynamicIndexReader, Manifest, type ManifestFile } from "@cairn/format";
import { BackupReader, BackupWriter, type IndexUploadHandle } from "@cairn/protocol/client";
import type { Connection } from "../connection.js";
import { envCount } from "../env-count.js";
import { ClientError, errorLine } from "../errors.js";
import { absolutePath } from "../local-path.js";
import { interruptedBy, onInterrupt } from "../interrupt.js";
import { isoTime, mbPerSecond } from "../output.js";
import { ReusingPayloadSink } from "../payload-sink.js";
import { type ChunkResult, ChunkPool } from "../pipeline.js";
import { type Progress, startProgress } from "../progress.js";
import { type BackupType, formatSnapshot } from "../snapshot-spec.js";

export type ChangeDetectionMode = "legacy" | "metadata";

export interface BackupSource {
  /** Archive name as given: `root.cxar` or `disk.img`. */
  name: string;
  path: string;
  kind: "tree" | "image";
}

export interface BackupOptions {
  connection: Connection;
  sources: BackupSource[];
  backupType?: BackupType;
  backupId?: string;
  backupTime?: number;
  crypt?: { crypt: CryptConfig; key: Buffer };
  exclude?: string[];
  changeDetectionMode?: ChangeDetectionMode;
  /** Chunk size in bytes (as PBS's --chunk-size): the CDC average for trees, the fixed size for images; default 4 MiB. */
  chunkSize?: number;
  /** zstd level of new chunks (default 1, as PBS). */
  compressLevel?: number;
  progress?: boolean;
  workers?: number;
  onWarning?: (w: ArchiveWarning) => void;
}

export interface ArchiveSummary {
  name: string;
  files: string[];
  size: number;
  filesRead?: number;
  bytesRead?: number;
  filesReused?: number;
  bytesReused?: number;
  imageReused?: boolean;
}

export interface BackupSummary {
  snapshot: string;
  backupType: BackupType;
  backupId: string;
  backupTime: number;
  /** Plain bytes of every archive, image and catalog. */
  totalBytes: number;
  /** Encoded bytes sent to the server. */
  uploadedBytes: number;
  /** Plain bytes not sent because the server had them. */
  reusedBytes: number;
  reusedPercent: number;
  newChunks: number;
  knownChunks: number;
  durationSeconds: number;
  mbPerSecond: number;
  filesRead: number;
  bytesRead: number;
  filesReused: number;
  archives: ArchiveSummary[];
  encrypted: boolean;
}

const TREE_EXT = ".cxar";

/** Parses `name.cxar:/path` or `name.img:/path`. */
export function parseSource(spec: string): BackupSource {
  const colon = spec.indexOf(":");
  if (colon <= 0) throw new ClientError("ERR_USAGE", `backup source must be NAME.cxar:PATH or NAME.img:PATH, got "${spec}"`);
  const name = spec.slice(0, colon);
  const p = spec.slice(colon + 1);
  if (!/^[A-Za-z0-9_][A-Za-z0-9_-]*\.(cxar|img)$/.test(name)) {
    throw new ClientError("ERR_USAGE", `archive name "${name}" must be letters, digits, '_' or '-' followed by .cxar (file tree) or .img (image)`);
  }
  if (p === "") throw new ClientError("ERR_USAGE", `no path given for ${name}`);
  return { name, path: absolutePath(p, `source of ${name}`, "ERR_SOURCE"), kind: name.endsWith(TREE_EXT) ? "tree" : "image" };
}

export function treeFileNames(name: string) {
  const base = name.slice(0, -TREE_EXT.length);
  return { legacy: `${base}.cxar.didx`, meta: `${base}.mcxar.didx`, payload: `${base}.pcxar.didx`, catalog: `${base}.ccat.didx` };
}

export function imageFileName(name: string): string {
  return `${name}.fidx`;
}

interface ImageStat {
  size: number;
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
  dev: string;
}

async function sourceSize(p: string): Promise<{ size: number; stat: fs.BigIntStats }> {
  const st = await fs.promises.stat(p, { bigint: true });
  if (st.isFile()) return { size: Number(st.size), stat: st };
  if (st.isBlockDevice()) {
    const major = Number(st.rdev >> 8n) & 0xfff;
    const minor = Number((st.rdev & 0xffn) | ((st.rdev >> 12n) & 0xfff00n));
    const sectors = Number((await fs.promises.readFile(`/sys/dev/block/${major}:${minor}/size`, "utf8")).trim());
    return { size: sectors * 512, stat: st };
  }
  throw new ClientError("ERR_SOURCE", `${p} is neither a regular file nor a block device`);
}

/** Uploads an ordered stream of pool results into an index. */
async function upload(handle: IndexUploadHandle, results: AsyncIterable<ChunkResult>, pool: ChunkPool, progress: Progress): Promise<void> {
  const EMPTY = new Uint8Array(0);
  let fresh: string[] = [];
  for await (const r of results) {
    if (r.blob) {
      const ab = r.recycle;
      if (await handle.uploadChunk(r.digest, r.size, r.blob, ab && (() => pool.recycle(ab)))) fresh.push(r.digest);
    } else {
      await handle.uploadChunk(r.digest, r.size, EMPTY);
    }
    await handle.append(r.digest, r.size);
    progress.add(r.size);
    if (fresh.length >= 16) {
      pool.addKnown(fresh);
      fresh = [];
    }
  }
  pool.addKnown(fresh);
}

const NO_PROGRESS: Progress = { add() {}, stop() {} };

function cryptMode(opts: BackupOptions): "none" | "encrypt" {
  return opts.crypt ? "encrypt" : "none";
}

/** A failure of the session itself, not of one base file: the backup cannot go on at all. */
function sessionFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "ERR_CONNECTION" || code === "ERR_SESSION_STATE";
}

/** The server's answer when a chunk the base snapshot's index lists is gone from the store. */
function missingBaseChunk(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return e?.code === "ERR_CHUNK_UNKNOWN" && typeof e.message === "string" && e.message.includes("of the previous snapshot");
}

/**
 * Backs up `opts.sources` into one snapshot. When a chunk that the base snapshot lists has gone
 * from the datastore (a verify of another group marked it bad, or it was removed by hand), the
 * session is aborted and the backup made once more without a base, so that every chunk is
 * uploaded again, instead of every later backup of the group failing on it until it is verified.
 */
export async function backup(opts: BackupOptions): Promise<BackupSummary> {
  const backupTime = opts.backupTime ?? Math.floor(Date.now() / 1000);
  const held = { release: () => {} };
  const done = (summary: BackupSummary) => {
    setImmediate(held.release);
    return summary;
  };
  try {
    return done(await backupOnce(opts, backupTime, true, held));
  } catch (err) {
    if (!missingBaseChunk(err) || interruptedBy()) throw err;
    process.stderr.write(`cairn: warning: ${(err as Error).message.replace(/^(dynamic|fixed)_append: /, "").replace(/: upload it$/, "")}; backing up again without the base snapshot\n`);
  }
  // the aborted session's snapshot folder and group lock go just after its socket closes
  const until = Date.now() + 10_000;
  for (;;) {
    try {
      return done(await backupOnce(opts, backupTime, false, held));
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if ((code !== "ERR_BACKUP_RUNNING" && code !== "ERR_EXISTS") || Date.now() > until || interruptedBy()) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function backupOnce(opts: BackupOptions, backupTime: number, withBase: boolean, held: { release: () => void }): Promise<BackupSummary> {
  if (opts.sources.length === 0) throw new ClientError("ERR_USAGE", "nothing to back up: give at least one NAME.cxar:PATH or NAME.img:PATH");
  const names = new Set<string>();
  for (const s of opts.sources) {
    if (names.has(s.name)) throw new ClientError("ERR_USAGE", `archive name ${s.name} given twice`);
    names.add(s.name);
  }
  checkExcludePatterns(opts.exclude);
  const sized = new Map<string, { size: number; stat: fs.BigIntStats }>();
  for (const s of opts.sources) {
    let st: fs.Stats;
    try {
      st = await fs.promises.stat(s.path);
    } catch (err) {
      throw new ClientError("ERR_SOURCE", `cannot read ${s.path}: ${(err as Error).message}`);
    }
    if (s.kind === "tree" && !st.isDirectory()) throw new ClientError("ERR_SOURCE", `${s.path} is not a directory (needed for ${s.name})`);
    if (s.kind === "image") {
      const sz = await sourceSize(s.path);
      // PBS cannot open a fixed index without entries (its reader maps the table and refuses a
      // zero length, and its GC stops at such a file), so an image of nothing is not stored
      if (sz.size === 0) throw new ClientError("ERR_SOURCE", `${s.path} is empty: an image needs at least one byte (a PBS fixed index cannot hold none)`);
      sized.set(s.name, sz);
    }
  }
  const started = process.hrtime.bigint();
  const backupType = opts.backupType ?? "host";
  const backupId = opts.backupId ?? os.hostname().split(".")[0].replace(/[^A-Za-z0-9._-]/g, "_");
  const mode = opts.changeDetectionMode ?? "legacy";
  const conn = opts.connection;
  const crypt = opts.crypt?.crypt;
  const uploadWindow = envCount("CAIRN_UPLOAD_WINDOW", 4);
  const pool = new ChunkPool({ key: opts.crypt?.key, workers: opts.workers, level: opts.compressLevel });
  // Registered before the session opens: the server makes the snapshot folder before it answers.
  let starting: Promise<BackupWriter> | undefined;
  let session: BackupWriter | undefined;
  const snapName = formatSnapshot(backupType, backupId, backupTime);
  const stopped = onInterrupt(
    // stopped while the server was finishing it, the snapshot may have been made all the same
    () =>
      session?.finished
        ? `backup ${snapName} had been finished on the server and was kept (the summary was not printed)`
        : `backup ${snapName} was aborted and no snapshot was made (chunks uploaded so far are re-used by the next backup or freed by gc)`,
    // after a finished backup the job stays registered until the summary is out (the finally below)
    async () => {
      session = await starting?.catch(() => undefined);
      await session?.abort();
    },
  );
  starting = BackupWriter.start({
    ...conn.connect,
    store: conn.store,
    ns: conn.ns,
    backupType,
    backupId,
    backupTime,
    // Four chunk uploads in flight keep the server's two check workers busy on loopback; eight
    // held four more encoded chunks in memory for no measured gain.
    maxInFlight: uploadWindow,
  });
  const writer = await starting.catch(async (err: unknown) => {
    stopped();
    await pool.close();
    throw err;
  });
  const archives: ArchiveSummary[] = [];
  const imageStats: Record<string, ImageStat> = {};
  let totalBytes = 0;
  let prevReader: BackupReader | undefined;
  try {
    // previousManifest asks for the base snapshot's time itself (null: no base snapshot).
    const prevManifest = withBase ? await writer.previousManifest() : null;
    const prevTime = prevManifest ? (prevManifest["backup-time"] as number) : null;
    let prevFiles = new Set<string>();
    let prevUnprotected: Record<string, unknown> = {};
    if (prevManifest) {
      const u = (prevManifest.unprotected ?? {}) as Record<string, unknown>;
      // Chunks of a snapshot made with another key (or none) must not be re-used.
      if ((u["key-fingerprint"] ?? null) === (crypt ? crypt.fingerprintFull() : null)) {
        prevFiles = new Set(((prevManifest.files ?? []) as Array<{ filename: string }>).map((f) => f.filename));
        prevUnprotected = u;
      }
    }
    const openPrevReader = async () => {
      prevReader ??= await BackupReader.open({ ...conn.connect, store: conn.store, ns: conn.ns, backupType, backupId, backupTime: prevTime!, crypt });
      return prevReader;
    };
    /**
     * An index of the base snapshot, or undefined (with a warning naming it) when the server
     * cannot give it, e.g. it is damaged: the archive is then backed up as if new, as the PBS
     * client does, instead of every later backup of the group failing on it.
     */
    const previous = async (name: string): Promise<Buffer | undefined> => {
      try {
        return await writer.downloadPrevious(name);
      } catch (err) {
        if (sessionFailure(err)) throw err;
        baseProblem(name, err);
        return undefined;
      }
    };
    const baseProblem = (name: string, err: unknown) => {
      const base = prevTime === null ? "base snapshot" : `base snapshot ${formatSnapshot(backupType, backupId, prevTime)}`;
      process.stderr.write(`cairn: warning: ${name} of the ${base} cannot be used (${errorLine(err).replace(/^cairn: error: /, "")}); backing it up without it\n`);
    };

    const runSource = async (src: BackupSource, progress: Progress): Promise<ArchiveSummary> => {
      if (src.kind === "image") {
        const { size, stat } = sized.get(src.name)!;
        const file = imageFileName(src.name);
        const cur: ImageStat = { size, mtimeNs: String(stat.mtimeNs), ctimeNs: String(stat.ctimeNs), ino: String(stat.ino), dev: String(stat.dev) };
        imageStats[src.name] = cur;
        const prevStat = (prevUnprotected["image-stats"] as Record<string, ImageStat> | undefined)?.[src.name];
        const handle = await writer.createFixedIndex(file, size, { cryptMode: cryptMode(opts), chunkSize: opts.chunkSize });
        let reused = false;
        if (prevFiles.has(file)) {
          const raw = await previous(file);
          if (raw === undefined) {
            // the base's index is unusable: read the whole image
          } else if (mode === "metadata" && stat.isFile() && prevStat && JSON.stringify(prevStat) === JSON.stringify(cur)) {
            // Unchanged image file: the previous index, chunk for chunk, without reading a byte.
            const { FixedIndexReader } = await import("@cairn/format");
            const prevIdx = FixedIndexReader.fromBuffer(raw);
            if (prevIdx.size === size && prevIdx.chunkSize === handle.chunkSize) {
              async function* prevChunks() {
                for (let i = 0; i < prevIdx.chunkCount; i++) {
                  const c = prevIdx.chunkInfo(i);
                  yield { injected: true as const, digest: Buffer.from(c.digest).toString("hex"), size: c.end - c.start };
                }
              }
              await upload(handle, pool.encode(prevChunks()), pool, progress);
              reused = true;
            }
          } else {
            pool.addKnown(writer.knownChunks);
          }
        }
        if (!reused) {
          await upload(handle, pool.encodeFile(src.path, size, handle.chunkSize ?? 4 << 20), pool, progress);
        }
        const closed = await handle.close();
        totalBytes += closed.size;
        return { name: src.name, files: [file], size: closed.size, imageReused: reused, bytesRead: reused ? 0 : size };
      }

      const f = treeFileNames(src.name);
      const stats: EncodeStats = newEncodeStats();
      const catalog = collectSink();
      let summary: ArchiveSummary;
      const chunkerOpts = resolveChunkerOptions({ avg: opts.chunkSize });
      const prevCatalog = prevFiles.has(f.catalog) ? previous(f.catalog) : undefined;
      prevCatalog?.catch(() => {});
      if (mode === "legacy") {
        if (prevFiles.has(f.legacy)) await previous(f.legacy);
        await prevCatalog;
        pool.addKnown(writer.knownChunks);
        const handle = await writer.createDynamicIndex(f.legacy, { cryptMode: cryptMode(opts) });
        const stream = encodeArchive(src.path, { catalog, exclude: opts.exclude, stats, onWarning: opts.onWarning });
        await upload(handle, pool.encode(chunkStream(stream, chunkerOpts), true), pool, progress);
        const closed = await handle.close();
        totalBytes += closed.size;
        summary = { name: src.name, files: [f.legacy, f.catalog], size: closed.size, filesRead: stats.filesRead, bytesRead: stats.bytesRead, filesReused: 0, bytesReused: 0 };
      } else {
        let prevPayload: DynamicIndexReader | undefined;
        let reuse: ReturnType<typeof reuseFromPrevious> | undefined;
        if (prevFiles.has(f.meta) && prevFiles.has(f.payload)) {
          // The downloads and the reader session are independent round trips: overlap them.
          try {
            const [payloadIdx, , reader] = await Promise.all([writer.downloadPrevious(f.payload), writer.downloadPrevious(f.meta), openPrevReader()]);
            prevPayload = DynamicIndexReader.fromBuffer(payloadIdx);
            reuse = reuseFromPrevious(await openMetadataIndex(reader.readArchive(f.meta)));
          } catch (err) {
            if (sessionFailure(err)) throw err;
            baseProblem(`${f.meta} or ${f.payload}`, err);
            prevPayload = undefined;
            reuse = undefined;
          }
        }
        await prevCatalog;
        pool.addKnown(writer.knownChunks);
        const sink = new ReusingPayloadSink(prevPayload);
        const metaHandle = await writer.createDynamicIndex(f.meta, { cryptMode: cryptMode(opts) });
        const payloadHandle = await writer.createDynamicIndex(f.payload, { cryptMode: cryptMode(opts) });
        const payloadTask = upload(payloadHandle, pool.encode(sink.chunks(chunkerOpts), true), pool, progress);
        payloadTask.catch(() => {});
        const stream = (async function* () {
          yield* encodeArchive(src.path, { catalog, exclude: opts.exclude, stats, onWarning: opts.onWarning, payload: sink, reusePayload: reuse });
          await sink.end();
        })();
        await upload(metaHandle, pool.encode(chunkStream(stream, chunkerOpts), true), pool, NO_PROGRESS);
        await payloadTask;
        const m = await metaHandle.close();
        const p = await payloadHandle.close();
        totalBytes += m.size + p.size;
        summary = {
          name: src.name,
          files: [f.meta, f.payload, f.catalog],
          size: m.size + p.size,
          filesRead: stats.filesRead,
          bytesRead: stats.bytesRead,
          filesReused: stats.filesReused,
          bytesReused: stats.bytesReused,
        };
      }
      const catHandle = await writer.createDynamicIndex(f.catalog, { cryptMode: cryptMode(opts) });
      await upload(catHandle, pool.encode(chunkStream([catalog.buffer()], { avg: 256 * 1024 })), pool, NO_PROGRESS);
      const cat = await catHandle.close();
      totalBytes += cat.size;
      return summary;
    };

    // Two lanes: file trees one after the other (their walk, reads and chunking run on this
    // thread) beside images one after the other (read, hashed and compressed by the workers), so
    // a tree's main-thread work and an image's worker work overlap on a first backup. An
    // incremental backup hashes far more than it compresses or holds for upload: there every
    // source runs at once.
    const imageBytes = [...sized.values()].reduce((a, x) => a + x.size, 0);
    const progress = startProgress("backup", imageBytes, opts.progress);
    const incremental = prevFiles.size > 0;
    const results = new Map<BackupSource, ArchiveSummary>();
    try {
      const lane = async (sources: BackupSource[]) => {
        for (const src of sources) results.set(src, await runSource(src, progress));
      };
      const lanes = incremental ? opts.sources.map((s) => [s]) : [opts.sources.filter((s) => s.kind === "tree"), opts.sources.filter((s) => s.kind === "image")];
      await Promise.all(lanes.map(lane));
      for (const src of opts.sources) archives.push(results.get(src)!);
    } finally {
      progress.stop();
    }

    const manifest = new Manifest({
      backupType,
      backupId,
      backupTime,
      files: writer.files.map((x: { filename: string; "crypt-mode": string; size: number; csum: string }) => ({
        filename: x.filename,
        cryptMode: x["crypt-mode"] as ManifestFile["cryptMode"],
        size: x.size,
        csum: x.csum,
      })),
      unprotected: {
        "chunk-upload-stats": { ...writer.stats },
        "image-stats": imageStats,
        chunker: { ...resolveChunkerOptions({ avg: opts.chunkSize }) },
        "change-detection-mode": mode,
      },
    });
    await writer.finish({ manifestBlob: manifest.toBlob(crypt) });
  } catch (err) {
    await writer.abort().catch(() => {});
    throw err;
  } finally {
    // once the server has finished the snapshot, a Ctrl-C from here until the caller has printed
    // the summary still says it was kept: backup() lets the job go after this turn of the loop
    if (!writer.finished) stopped();
    else held.release = stopped;
    await prevReader?.close().catch(() => {});
    await pool.close();
  }
  const durationSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const s = writer.stats;
  const sum = (k: "filesRead" | "bytesRead" | "filesReused") => archives.reduce((a, x) => a + (x[k] ?? 0), 0);
  return {
    snapshot: formatSnapshot(backupType, backupId, backupTime),
    backupType,
    backupId,
    backupTime,
    totalBytes,
    uploadedBytes: s.uploadedBytes,
    reusedBytes: s.reusedBytes,
    reusedPercent: totalBytes > 0 ? Math.round((1000 * s.reusedBytes) / totalBytes) / 10 : 0,
    newChunks: s.uploadedChunks,
    knownChunks: s.knownChunks,
    durationSeconds: Math.round(durationSeconds * 1000) / 1000,
    mbPerSecond: Math.round(mbPerSecond(totalBytes, durationSeconds) * 10) / 10,
    filesRead: sum("filesRead"),
    bytesRead: sum("bytesRead"),
    filesReused: sum("filesReused"),
    archives,
    encrypted: Boolean(crypt),
  };
}

export function summaryText(s: BackupSummary, humanBytes: (n: number) => string): string {
  return [
    `snapshot ${s.snapshot} (${isoTime(s.backupTime)})${s.encrypted ? " encrypted" : ""}`,
    `total ${humanBytes(s.totalBytes)}, uploaded ${humanBytes(s.uploadedBytes)}, re-used ${s.reusedPercent}% (${humanBytes(s.reusedBytes)})`,
    `chunks: ${s.newChunks} new, ${s.knownChunks} known; files read ${s.filesRead} (${humanBytes(s.bytesRead)}), re-used ${s.filesReused}`,
    `duration ${s.durationSeconds.toFixed(2)} s, ${s.mbPerSecond.toFixed(1)} MB/s`,
  ].join("\n");
}
