// Restore through the catalog: one file or one subtree, reading only the byte ranges needed
// (the entry's record and its content, or the subtree's slice of the metadata archive plus the
// payloads it points at). Works for single-stream and split archives.


import { lstat } from "node:fs/promises";
import { type CatalogEntry, type CatalogSource, asCatalog } from "./catalog.js";
import { decodeArchive } from "./decoder.js";
import { ArchiveError } from "./errors.js";
import { decodeEntryBody, decodePrefix, PREFIX_SIZE, type ParsedEntry } from "./format.js";
import { type ExtractOptions, Extractor, type ExtractStats, newExtractStats, prepareTarget } from "./extract.js";
import { absoluteFsPath, type PathLike, toPathBuffer } from "./internal/paths.js";
import { type RandomAccessReader, readExactAt, readerStream } from "./random-access.js";
import { defaultWarningHandler, makeWarning } from "./warnings.js";

/** A single-stream archive reader, or the two readers of a split archive. */
export type ArchiveReaders = RandomAccessReader | { metadata: RandomAccessReader; payload: RandomAccessReader };

function metadataReader(a: ArchiveReaders): RandomAccessReader {
  return "metadata" in a ? a.metadata : a;
}

function payloadReader(a: ArchiveReaders): RandomAccessReader | undefined {
  return "metadata" in a ? a.payload : undefined;
}

async function readRecord(reader: RandomAccessReader, e: CatalogEntry): Promise<{ parsed: ParsedEntry; end: number }> {
  const prefix = decodePrefix(await readExactAt(reader, e.entryOffset, PREFIX_SIZE, "record header", e.path), e.entryOffset, e.path);
  const body = await readExactAt(reader, e.entryOffset + PREFIX_SIZE, prefix.bodyLen, "record", e.path);
  const parsed = decodeEntryBody(prefix, body, e.entryOffset, e.path);
  if (!parsed.name.equals(e.name) || parsed.kind !== e.kind)
    throw new ArchiveError("ERR_ARCHIVE_CORRUPT", "catalog entry does not match the archive record", { path: e.path, offset: e.entryOffset });
  return { parsed, end: e.entryOffset + PREFIX_SIZE + prefix.bodyLen };
}

/** Places one non-directory catalog entry at `dest` (its parent must exist). */
async function placeEntry(extractor: Extractor, cat: Awaited<ReturnType<typeof asCatalog>>, archive: ArchiveReaders, e: CatalogEntry, dest: Buffer): Promise<void> {
  if (e.kind === "hardlink") {
    const { parsed } = await readRecord(metadataReader(archive), e);
    const first = await cat.lookup(parsed.tail);
    if (!first || first.kind === "dir" || first.kind === "hardlink") throw new ArchiveError("ERR_ARCHIVE_CORRUPT", "hardlink target not in catalog", { path: e.path });
    return placeEntry(extractor, cat, archive, first, dest);
  }
  const { parsed, end } = await readRecord(metadataReader(archive), e);
  const base = { path: e.path, name: e.name, meta: parsed.meta, offset: e.entryOffset };
  if (parsed.kind === "file") {
    const split = payloadReader(archive) !== undefined;
    const contentOffset = split ? parsed.meta.payloadOffset : end;
    if (contentOffset !== e.ref) throw new ArchiveError("ERR_ARCHIVE_CORRUPT", "catalog payload offset does not match the record", { path: e.path, offset: e.entryOffset });
    const content = split ? undefined : readerStream(metadataReader(archive), end, end + parsed.meta.size);
    await extractor.place(dest, { ...base, kind: "file", contentOffset, content });
  } else if (parsed.kind === "symlink") {
    await extractor.place(dest, { ...base, kind: "symlink", target: parsed.tail });
  } else if (parsed.kind === "device" || parsed.kind === "fifo") {
    await extractor.place(dest, { ...base, kind: parsed.kind });
  } else {
    throw new ArchiveError("ERR_ARCHIVE_CORRUPT", `cannot restore a ${parsed.kind} as a single entry`, { path: e.path });
  }
}

/**
 * Restores the non-directory entry at archive `path` to the filesystem path `target` (which must
 * not exist unless `allowExisting`; its parent must). A hardlink is restored as a copy of its
 * first link.
 */
export async function restoreFile(catalog: CatalogSource, archive: ArchiveReaders, path: PathLike, target: PathLike, opts: ExtractOptions = {}): Promise<ExtractStats> {
  const cat = await asCatalog(catalog);
  const p = toPathBuffer(path);
  const e = await cat.lookup(p);
  if (!e) throw new ArchiveError("ERR_ARCHIVE_NOT_FOUND", "no such entry in catalog", { path: p });
  if (e.kind === "dir") throw new ArchiveError("ERR_ARCHIVE_NOT_FOUND", "entry is a directory; use restoreSubtree", { path: p });
  const dest = absoluteFsPath(target);
  if (!opts.allowExisting && (await lstat(dest).catch(() => undefined)))
    throw new ArchiveError("ERR_ARCHIVE_TARGET", "restore target already exists", { path: dest });
  const stats = opts.stats ?? newExtractStats();
  const extractor = new Extractor(dest.subarray(0, Math.max(0, dest.lastIndexOf(0x2f))), { ...opts, stats }, payloadReader(archive));
  await placeEntry(extractor, cat, archive, e, dest);
  stats.entries++;
  return stats;
}

/**
 * Restores the directory at archive `path` ("" = everything) into `target` (missing or empty).
 * Reads only that directory's slice of the metadata archive and the payloads it references.
 */
export async function restoreSubtree(catalog: CatalogSource, archive: ArchiveReaders, path: PathLike, target: PathLike, opts: ExtractOptions = {}): Promise<ExtractStats> {
  const cat = await asCatalog(catalog);
  const p = toPathBuffer(path);
  const e = await cat.lookup(p);
  if (!e) throw new ArchiveError("ERR_ARCHIVE_NOT_FOUND", "no such entry in catalog", { path: p });
  if (e.kind !== "dir") return restoreFile(cat, archive, p, target, opts);
  const dest = absoluteFsPath(target);
  await prepareTarget(dest, opts.allowExisting ?? false);
  const warn = opts.onWarning ?? defaultWarningHandler;
  const meta = metadataReader(archive);
  const payload = payloadReader(archive);
  const layout = payload ? "split" : "single";
  let extractor: Extractor | undefined;
  const hardlinkFallback = async (targetPath: Buffer, destAbs: Buffer, linkPath: Buffer): Promise<boolean> => {
    const first = await cat.lookup(targetPath);
    if (!first || first.kind === "dir" || first.kind === "hardlink") return false;
    warn(makeWarning(linkPath, "hardlink-outside", "hardlink target lies outside the restored subtree; restored as a copy"));
    await placeEntry(extractor!, cat, archive, first, destAbs);
    return true;
  };
  extractor = new Extractor(dest, opts, payload, { rootPath: p, hardlinkFallback });
  const events = decodeArchive(readerStream(meta, e.entryOffset, e.entryOffset + e.size), { fragment: { baseOffset: e.entryOffset, layout } });
  return extractor.run(events);
}

