// A path inside a file-tree archive as the user types it (`cairn restore --path`, `cairn catalog
// ls PATH`). It is looked up as it is first; if nothing is there, as the escaped form the listings
// print (`displayPath`: `\xNN` for bytes that are not UTF-8 and for control characters), so a
// name with a newline or Latin-1 bytes can be copied from `catalog ls` and restored.

import { type Catalog, type CatalogEntry, parseDisplayPath } from "@cairn/archive";

/** The archive path (bytes, no leading or trailing slash) and its catalog entry, if it exists. */
export async function lookupArchivePath(cat: Catalog, typed: string): Promise<{ path: Buffer; entry: CatalogEntry } | undefined> {
  const sub = typed.replace(/^\/+|\/+$/g, "");
  const literal = Buffer.from(sub, "utf8");
  const entry = await cat.lookup(literal);
  if (entry) return { path: literal, entry };
  const unescaped = parseDisplayPath(sub);
  if (unescaped.equals(literal)) return undefined;
  const e2 = await cat.lookup(unescaped);
  return e2 ? { path: unescaped, entry: e2 } : undefined;
}
