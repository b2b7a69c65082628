// A path inside a file-tree archive as the user types it (`cairn restore --path`, `cairn catalog
// ls PATH`). It is read as the form the listings print first (`displayPath`: `\xNN` for bytes
// that are not UTF-8, control characters and backslashes; every name has exactly one such form),
// so a name with a newline or Latin-1 bytes can be copied from `catalog ls` and restored. If
// nothing is there, it is looked up as typed (a name with a backslash typed as it is on disk).

import { type Catalog, type CatalogEntry, parseDisplayPath } from "@cairn/archive";

/**
 * A typed archive path without empty and `.` components (`./etc//hosts/` is `etc/hosts`, `.` the
 * root), as `tar` and a shell read it; no name in an archive is empty or `.`.
 */
export function normalizeArchivePath(typed: string): string {
  return typed
    .split("/")
    .filter((c) => c !== "" && c !== ".")
    .join("/");
}

/** The archive path (bytes, no leading or trailing slash) and its catalog entry, if it exists. */
export async function lookupArchivePath(cat: Catalog, typed: string): Promise<{ path: Buffer; entry: CatalogEntry } | undefined> {
  const sub = normalizeArchivePath(typed);
  const shown = parseDisplayPath(sub);
  const entry = await cat.lookup(shown);
  if (entry) return { path: shown, entry };
  const literal = Buffer.from(sub, "utf8");
  if (literal.equals(shown)) return undefined;
  const e2 = await cat.lookup(literal);
  return e2 ? { path: literal, entry: e2 } : undefined;
}
