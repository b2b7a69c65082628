// ArchiveError: the one error type of this package. Callers branch on `code`, never on the
// message; `path` (display form of the archive path) and `offset` (byte offset in the stream the
// error was found in) say where it happened.

export type ArchiveErrorCode =
  | "ERR_ARCHIVE_TRUNCATED"
  | "ERR_ARCHIVE_MAGIC"
  | "ERR_ARCHIVE_VERSION"
  | "ERR_ARCHIVE_BAD_NAME"
  | "ERR_ARCHIVE_CORRUPT"
  | "ERR_ARCHIVE_ESCAPE"
  | "ERR_ARCHIVE_TARGET"
  | "ERR_ARCHIVE_NOT_FOUND"
  | "ERR_ARCHIVE_BAD_PATTERN";

export class ArchiveError extends Error {
  readonly code: ArchiveErrorCode;
  readonly path: string | undefined;
  readonly offset: number | undefined;

  constructor(code: ArchiveErrorCode, message: string, where: { path?: Buffer | string; offset?: number } = {}) {
    const path = where.path === undefined ? undefined : displayPath(where.path);
    const parts = [message];
    if (path !== undefined) parts.push(`path "${path}"`);
    if (where.offset !== undefined) parts.push(`offset ${where.offset}`);
    super(parts.join(", "));
    this.name = "ArchiveError";
    this.code = code;
    this.path = path;
    this.offset = where.offset;
  }
}

/**
 * Characters that must not reach a terminal as they are: C0 and C1 controls, DEL, the backslash
 * (the escape character), line and paragraph separators, bidirectional overrides and isolates
 * (a name could show its letters in another order), invisible zero-width space, LRM/RLM and BOM.
 */
const UNSAFE = /[\x00-\x1f\x7f-\x9f\\\u200b\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/;

/**
 * Printable form of a raw path: as it is when it is valid UTF-8 without control, invisible or
 * reordering characters (UNSAFE) or backslashes; otherwise printable ASCII stays and every other byte, backslash included, is a
 * `\xNN` escape (so no name can move the cursor or split a line of a listing). Every path has
 * one form and no two share it: a name holding a literal `\x0a` shows as `\x5cx0a`, not as the
 * name holding a newline. `parseDisplayPath` reads it back.
 */
export function displayPath(p: Buffer | string): string {
  if (typeof p === "string") return p;
  const s = p.toString("utf8");
  if (Buffer.from(s, "utf8").equals(p) && !UNSAFE.test(s)) return s;
  let out = "";
  for (const b of p) out += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`;
  return out;
}

/** The raw path of a `displayPath` form: each `\xNN` escape is that byte, the rest is UTF-8. */
export function parseDisplayPath(s: string): Buffer {
  const parts: Buffer[] = [];
  let last = 0;
  for (const m of s.matchAll(/\\x([0-9a-fA-F]{2})/g)) {
    parts.push(Buffer.from(s.slice(last, m.index), "utf8"), Buffer.from([Number.parseInt(m[1], 16)]));
    last = m.index + m[0].length;
  }
  parts.push(Buffer.from(s.slice(last), "utf8"));
  return Buffer.concat(parts);
}
