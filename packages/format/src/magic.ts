// Magic numbers of every PBS file kind (spec: format.md, table at the top). Each one is the
// first 8 bytes of SHA-256 of its label; the labels are kept here so that a test can derive
// the bytes again and nobody has to trust a hand-copied byte list.

export const MAGIC_SIZE = 8;

export const MAGIC_LABELS = {
  UNCOMPRESSED_BLOB: "Proxmox Backup uncompressed blob v1.0",
  COMPRESSED_BLOB: "Proxmox Backup zstd compressed blob v1.0",
  ENCRYPTED_BLOB: "Proxmox Backup encrypted blob v1.0",
  ENCR_COMPR_BLOB: "Proxmox Backup zstd compressed encrypted blob v1.0",
  FIXED_INDEX: "Proxmox Backup fixed sized chunk index v1.0",
  DYNAMIC_INDEX: "Proxmox Backup dynamic sized chunk index v1.0",
  CATALOG: "Proxmox Backup Catalog file v1.0",
} as const;

export type MagicName = keyof typeof MAGIC_LABELS;

// Spelled out rather than computed at load time: the constant is the contract, the label is its proof.
export const UNCOMPRESSED_BLOB_MAGIC: Readonly<Buffer> = Buffer.from([66, 171, 56, 7, 190, 131, 112, 161]);
export const COMPRESSED_BLOB_MAGIC: Readonly<Buffer> = Buffer.from([49, 185, 88, 66, 111, 182, 163, 127]);
export const ENCRYPTED_BLOB_MAGIC: Readonly<Buffer> = Buffer.from([123, 103, 133, 190, 34, 45, 76, 240]);
export const ENCR_COMPR_BLOB_MAGIC: Readonly<Buffer> = Buffer.from([230, 89, 27, 191, 11, 191, 216, 11]);
export const FIXED_INDEX_MAGIC: Readonly<Buffer> = Buffer.from([47, 127, 65, 237, 145, 253, 15, 205]);
export const DYNAMIC_INDEX_MAGIC: Readonly<Buffer> = Buffer.from([28, 145, 78, 165, 25, 186, 179, 205]);
export const CATALOG_MAGIC: Readonly<Buffer> = Buffer.from([145, 253, 96, 249, 196, 103, 88, 213]);

export const MAGICS: Readonly<Record<MagicName, Readonly<Buffer>>> = {
  UNCOMPRESSED_BLOB: UNCOMPRESSED_BLOB_MAGIC,
  COMPRESSED_BLOB: COMPRESSED_BLOB_MAGIC,
  ENCRYPTED_BLOB: ENCRYPTED_BLOB_MAGIC,
  ENCR_COMPR_BLOB: ENCR_COMPR_BLOB_MAGIC,
  FIXED_INDEX: FIXED_INDEX_MAGIC,
  DYNAMIC_INDEX: DYNAMIC_INDEX_MAGIC,
  CATALOG: CATALOG_MAGIC,
};

/** Which known magic, if any, `raw` starts with. */
export function magicOf(raw: Uint8Array): MagicName | undefined {
  if (raw.length < MAGIC_SIZE) return undefined;
  for (const [name, magic] of Object.entries(MAGICS) as [MagicName, Buffer][]) {
    if (magic.equals(raw.subarray(0, MAGIC_SIZE))) return name;
  }
  return undefined;
}
