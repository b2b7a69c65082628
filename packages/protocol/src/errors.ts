// The error table shared by server and client: every code the wire can carry and its HTTP status.
// The server maps any thrown error to `{"error": {"code", "message"}}` through this one table;
// the client turns such bodies (and session error answers) back into `ProtocolError`.
// Callers branch on `code`, never on the message text.

export const ERROR_STATUS = {
  ERR_AUTH: 401,
  ERR_FORBIDDEN: 403,
  ERR_NOT_OWNER: 403,
  ERR_BAD_REQUEST: 400,
  ERR_BAD_NAME: 400,
  ERR_BAD_FRAME: 400,
  ERR_CHUNK_TOO_LARGE: 400,
  ERR_CHUNK_SIZE: 400,
  ERR_CHUNK_DIGEST: 400,
  ERR_CHUNK_CRC: 400,
  ERR_CHUNK_FORMAT: 400,
  ERR_CHUNK_UNKNOWN: 400,
  ERR_BLOB_INVALID: 400,
  ERR_INDEX_MISMATCH: 400,
  ERR_MANIFEST_INVALID: 400,
  ERR_UNKNOWN_OP: 400,
  ERR_SESSION_STATE: 400,
  ERR_NOT_FOUND: 404,
  ERR_LOCKED: 409,
  ERR_BACKUP_RUNNING: 409,
  ERR_PROTECTED: 409,
  ERR_EXISTS: 409,
  ERR_PREVIOUS_GONE: 409,
  ERR_TIME_ORDER: 400,
  ERR_BAD_CHUNK: 400,
  ERR_CHUNK_ENCRYPTED_OVER_PLAIN: 400,
  ERR_WRITER_CLOSED: 400,
  ERR_BAD_MANIFEST: 400,
  ERR_BASE_VANISHED: 409,
  ERR_ABORTED: 409,
  ERR_NOT_DATASTORE: 404,
  ERR_ATIME: 500,
  // @cairn/format codes that can reach the wire (bad uploads): all client faults.
  ERR_BLOB_MAGIC: 400,
  ERR_BLOB_SHORT: 400,
  ERR_BLOB_CRC: 400,
  ERR_BLOB_DECRYPT: 400,
  ERR_BLOB_DECOMPRESS: 400,
  ERR_BLOB_TOO_LARGE: 400,
  ERR_BLOB_NEEDS_KEY: 400,
  ERR_DIGEST_MISMATCH: 400,
  ERR_DIGEST_LENGTH: 400,
  ERR_INDEX_MAGIC: 400,
  ERR_INDEX_SHORT: 400,
  ERR_INDEX_ENTRY_SIZE: 400,
  ERR_INDEX_OFFSETS: 400,
  ERR_INDEX_CSUM: 400,
  ERR_INDEX_COUNT: 400,
  ERR_INDEX_CHUNK_SIZE: 400,
  ERR_INDEX_RANGE: 400,
  ERR_MANIFEST_JSON: 400,
  ERR_MANIFEST_SHAPE: 400,
  ERR_FINGERPRINT: 495,
  ERR_CONNECTION: 502,
  ERR_SHUTDOWN: 503,
  // The datastore's file system is full (ENOSPC/EDQUOT): 507 Insufficient Storage.
  ERR_NO_SPACE: 507,
  ERR_INTERNAL: 500,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.hasOwn(ERROR_STATUS, code);
}

/** HTTP status of a code; unknown codes are internal errors. */
export function statusOf(code: string): number {
  return isErrorCode(code) ? ERROR_STATUS[code] : 500;
}

export class ProtocolError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ProtocolError";
    this.code = code;
    this.status = options?.status ?? ERROR_STATUS[code];
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message } };
  }
}

export interface ErrorBody {
  error: { code: string; message: string };
}

export function isProtocolError(err: unknown, code?: ErrorCode): err is ProtocolError {
  return err instanceof ProtocolError && (code === undefined || err.code === code);
}

/**
 * Any error with a string `code` found in the table (DatastoreError, FormatError mapped by the
 * caller, ProtocolError) keeps its code; everything else becomes ERR_INTERNAL.
 */
export function toProtocolError(err: unknown): ProtocolError {
  if (err instanceof ProtocolError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (isErrorCode(code)) return new ProtocolError(code, message, { cause: err });
  // A full disk is the operator's to fix, not a bug: give the client a code it can act on.
  if (code === "ENOSPC" || code === "EDQUOT") return new ProtocolError("ERR_NO_SPACE", `no space left on the datastore: ${message}`, { cause: err });
  return new ProtocolError("ERR_INTERNAL", message, { cause: err });
}

/** Parses an error body received from the server; tolerant of foreign shapes. */
export function errorFromBody(status: number, body: unknown): ProtocolError {
  const e = (body as ErrorBody | null)?.error;
  if (e && typeof e.message === "string") {
    const code = isErrorCode(e.code) ? e.code : "ERR_INTERNAL";
    return new ProtocolError(code, e.message, { status });
  }
  const fallback: ErrorCode =
    status === 401 ? "ERR_AUTH" : status === 403 ? "ERR_FORBIDDEN" : status === 404 ? "ERR_NOT_FOUND" : status === 409 ? "ERR_LOCKED" : status < 500 ? "ERR_BAD_REQUEST" : "ERR_INTERNAL";
  return new ProtocolError(fallback, `server answered HTTP ${status}`, { status });
}
