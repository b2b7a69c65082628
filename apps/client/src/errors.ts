// ClientError: the one error type the CLI reports. Every failure reaching the top of `cairn` is
// turned into `{code, message}` and printed as one line `cairn: error: CODE: message`; errors of
// the other packages keep their codes (ERR_FINGERPRINT, ERR_BLOB_DECRYPT, …), anything without a
// code is ERR_INTERNAL. A user mistake never shows a stack trace.

export type ClientErrorCode =
  | "ERR_USAGE"
  | "ERR_REPOSITORY"
  | "ERR_NO_SECRET"
  | "ERR_FINGERPRINT_UNKNOWN"
  | "ERR_SNAPSHOT_SPEC"
  | "ERR_NO_SNAPSHOT"
  | "ERR_ARCHIVE_MISSING"
  | "ERR_SOURCE"
  | "ERR_TARGET"
  | "ERR_KEY"
  | "ERR_WRONG_KEY"
  | "ERR_NO_PASSPHRASE"
  | "ERR_VERIFY_FAILED"
  | "ERR_DEMO"
  | "ERR_INTERNAL";

export class ClientError extends Error {
  readonly code: string;

  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ClientError";
    this.code = code;
  }
}

/** Code and message of any thrown value, for the one-line report. */
export function describeError(err: unknown): { code: string; message: string; internal: boolean } {
  if (err instanceof ClientError) return { code: err.code, message: err.message, internal: err.code === "ERR_INTERNAL" };
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === "string" && /^ERR_[A-Z0-9_]+$/.test(code)) return { code, message, internal: code === "ERR_INTERNAL" };
  if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return { code: `ERR_SYSTEM_${code}`, message, internal: false };
  return { code: "ERR_INTERNAL", message, internal: true };
}

/** The line printed on stderr for an error. */
export function errorLine(err: unknown): string {
  const { code, message } = describeError(err);
  return `cairn: error: ${code}: ${message.split("\n")[0]}`;
}
