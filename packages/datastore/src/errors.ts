// DatastoreError: the one error class of @cairn/datastore. Callers branch on `code`, never on the
// message; the message names the resource (and, for lock conflicts, the operation holding it).
// Spec: datastore.md "Locks" (ERR_LOCKED must name what is locked and by which operation).

export type DatastoreErrorCode =
  | "ERR_LOCKED"
  | "ERR_NOT_OWNER"
  | "ERR_PROTECTED"
  | "ERR_BAD_NAME"
  | "ERR_NOT_FOUND"
  | "ERR_EXISTS"
  | "ERR_NOT_EMPTY"
  | "ERR_CHUNK_ENCRYPTED_OVER_PLAIN"
  | "ERR_BAD_CHUNK"
  | "ERR_ABORTED"
  | "ERR_ATIME"
  | "ERR_WRITER_CLOSED"
  | "ERR_BAD_MANIFEST"
  | "ERR_BASE_VANISHED"
  | "ERR_TIME_ORDER"
  | "ERR_NOT_DATASTORE"
  | "ERR_BAD_INDEX";

export class DatastoreError extends Error {
  readonly code: DatastoreErrorCode;
  /** The resource concerned (a path, a snapshot, a digest …). */
  readonly resource?: string;
  /** For ERR_LOCKED: the operation that holds the lock, when it could be read. */
  readonly holder?: string;

  constructor(
    code: DatastoreErrorCode,
    message: string,
    extra: { resource?: string; holder?: string; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = "DatastoreError";
    this.code = code;
    this.resource = extra.resource;
    this.holder = extra.holder;
  }
}

export function isDatastoreError(err: unknown, code?: DatastoreErrorCode): err is DatastoreError {
  return err instanceof DatastoreError && (code === undefined || err.code === code);
}

/** Node system error with an errno code (ENOENT, EAGAIN …). */
export function errnoCode(err: unknown): string | undefined {
  if (err && typeof err === "object" && "code" in err && typeof (err as { code: unknown }).code === "string") {
    return (err as { code: string }).code;
  }
  return undefined;
}
