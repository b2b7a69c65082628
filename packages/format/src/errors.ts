// The one error type of @cairn/format. Callers branch on `code`, never on the message text;
// the message names what was wrong so that a log line alone is enough to diagnose a file.
// The codes are listed in the package README (error table).

export type FormatErrorCode =
  | "ERR_BLOB_MAGIC"
  | "ERR_BLOB_SHORT"
  | "ERR_BLOB_CRC"
  | "ERR_BLOB_DECRYPT"
  | "ERR_BLOB_DECOMPRESS"
  | "ERR_BLOB_TOO_LARGE"
  | "ERR_BLOB_LEVEL"
  | "ERR_BLOB_HEADROOM"
  | "ERR_BLOB_NEEDS_KEY"
  | "ERR_DIGEST_MISMATCH"
  | "ERR_DIGEST_LENGTH"
  | "ERR_KEY_LENGTH"
  | "ERR_KEY_FINGERPRINT"
  | "ERR_KEY_FILE"
  | "ERR_PASSPHRASE"
  | "ERR_PASSPHRASE_TOO_SHORT"
  | "ERR_INDEX_MAGIC"
  | "ERR_INDEX_SHORT"
  | "ERR_INDEX_ENTRY_SIZE"
  | "ERR_INDEX_OFFSETS"
  | "ERR_INDEX_CSUM"
  | "ERR_INDEX_COUNT"
  | "ERR_INDEX_CHUNK_SIZE"
  | "ERR_INDEX_RANGE"
  | "ERR_INDEX_SIZE"
  | "ERR_WRITER_CLOSED"
  | "ERR_MANIFEST_JSON"
  | "ERR_MANIFEST_SHAPE"
  | "ERR_MANIFEST_SIGNATURE"
  | "ERR_MANIFEST_UNSIGNED";

export class FormatError extends Error {
  readonly code: FormatErrorCode;

  constructor(code: FormatErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FormatError";
    this.code = code;
  }
}

export function isFormatError(err: unknown, code?: FormatErrorCode): err is FormatError {
  return err instanceof FormatError && (code === undefined || err.code === code);
}
