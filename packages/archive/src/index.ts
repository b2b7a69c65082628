// @cairn/archive — the .cxar file-tree archive (README §1 is the format spec).
//
// Glossary
//   archive     one byte stream holding a directory tree: `.cxar` (contents inline) or, split,
//               `.mcxar` (metadata) + `.pcxar` (payload = file contents).
//   record      typed unit of an archive: 8-byte prefix (marker, type, flags, body length) + body.
//   entry       a DIR/FILE/SYMLINK/HARDLINK/DEVICE/FIFO record; GOODBYE closes a directory.
//   archive path raw bytes, components joined by "/", relative to the root ("" is the root).
//   payload     a file's contents; in `.pcxar` preceded by a PAYLOAD header (magic + size).
//   catalog     `.ccat`: sorted per-directory tables of every entry, for listing and for
//               restoring one file/subtree through a RandomAccessReader.
//   re-use      split mode: an unchanged file's payload is taken from the previous `.pcxar`
//               (PayloadSink.reuse) instead of being read.
//
// Invariants
//   - Entries of a directory are strictly sorted by name bytes; names are never "", ".", "..",
//     and never contain "/" or NUL. The stream ends right after the root's GOODBYE.
//   - Sizes and offsets are u64 in the format (numbers up to 2^53 in the API); times are i64 ns.
//   - The encoder's memory is bounded by one directory listing per level of the current path
//     (plus one map entry per multiply-linked inode); a file that changes while read gives a
//     warning, never a malformed archive (shrunk files are zero-padded to the declared size).
//   - Decoding never trusts the stream: every violation is an ArchiveError with a code, path and
//     offset. Restore never writes outside its target nor through a symlink.

export { ArchiveError, type ArchiveErrorCode, displayPath, parseDisplayPath } from "./errors.js";
export {
  CATALOG_MAGIC,
  CXAR_MAGIC,
  deriveMagic,
  ENTRY_FIXED_SIZE,
  type EntryKind,
  type EntryMeta,
  FLAG_HAS_LINKS,
  FORMAT_VERSION,
  HEADER_SIZE,
  MCXAR_MAGIC,
  PAYLOAD_HEADER_SIZE,
  PAYLOAD_MAGIC,
  PCXAR_MAGIC,
  PREFIX_SIZE,
  RecordType,
} from "./format.js";
export { type RandomAccessReader, type FileReader, type ReadCounter, bufferReader, openFileReader, countingReader, readerStream } from "./random-access.js";
export { type ByteSink, type CollectSink, type FileSink, collectSink, openFileSink } from "./sinks.js";
export { type ArchiveWarning, type WarningReason, type WarningHandler, defaultWarningHandler } from "./warnings.js";
export { EXCLUDE_FILE_NAME, checkExcludePatterns, excludePatternProblem, quotePattern } from "./exclude.js";
export type { WalkOptions } from "./walker.js";
export { type EncodeOptions, type EncodeStats, encodeArchive, newEncodeStats } from "./encoder.js";
export { type PayloadSink, type ReuseDecider, type ReuseHint, CopyingPayloadSink } from "./split.js";
export { type PreviousEntry, type PreviousMetadata, type ReuseOptions, openMetadataIndex, reuseFromPrevious } from "./metadata-index.js";
export { type ArchiveEvent, type ByteStream, type DecodeOptions, type Layout, decodeArchive } from "./decoder.js";
export { type ExtractOptions, type ExtractStats, extractArchive, extractSplitArchive, newExtractStats } from "./extract.js";
export { Catalog, type CatalogEntry, type CatalogSource, listCatalog, openCatalog } from "./catalog.js";
export { type ArchiveReaders, restoreFile, restoreSubtree } from "./restore.js";
