// @cairn/format — the bytes cairn shares with Proxmox Backup Server (spec: /work/shared/spec/format.md).
//
// Glossary
// - blob: a small container, `magic | crc32 | [iv | tag] | payload`, plain, zstd, AES-GCM or both.
// - chunk: a piece of backup data (at most 16 MiB), stored in the datastore as a blob named by its digest.
// - digest: SHA-256 of a chunk's plain data; with a key, SHA-256(data ‖ id_key) (keyed digest).
// - index: a `.fidx` (fixed chunk size, images) or `.didx` (variable chunks, archives) file listing
//   chunk digests after a 4096-byte header whose index_csum covers the whole list.
// - manifest: `index.json.blob`, the list of a snapshot's files with sizes and csums, signed with the key.
// - key: 32 random bytes (CryptConfig), kept on disk in a passphrase-protected key file (KeyConfig).
//
// Invariants this package promises
// - Every decoder either returns exactly the data that was encoded or throws a FormatError whose
//   `code` names the fault; it never returns altered data, crashes or hangs on malformed input.
// - Encoders write the spec's layouts byte for byte (little-endian, named offsets, 4096-byte headers).
// - Index files appear under their final name only complete: written to `name.tmp`, csum patched,
//   fsynced, renamed.
// - Decoding never allocates more than the 128 MiB blob payload limit for one blob.

export * from "./errors.js";
export * from "./magic.js";
export * from "./crypt-config.js";
export * from "./data-blob.js";
export { digestHex, digestFromHex, colonHex, fromColonHex, DIGEST_SIZE } from "./internal/hex.js";
export {
  DEFAULT_FIXED_CHUNK_SIZE,
  DYNAMIC_ENTRY_SIZE,
  DYNAMIC_HEADER_RESERVED_START,
  FIXED_ENTRY_SIZE,
  FIXED_HEADER_RESERVED_START,
  HEADER_SIZE,
  INDEX_OFFSET_CHUNK_SIZE,
  INDEX_OFFSET_CSUM,
  INDEX_OFFSET_CTIME,
  INDEX_OFFSET_MAGIC,
  INDEX_OFFSET_SIZE,
  INDEX_OFFSET_UUID,
  type IndexHeaderFields,
  type IndexIdentity,
  UUID_SIZE,
} from "./index-header.js";
export * from "./fixed-index.js";
export * from "./dynamic-index.js";
export * from "./manifest.js";
export { canonicalJson } from "./internal/canonical-json.js";
export * from "./key-config.js";
