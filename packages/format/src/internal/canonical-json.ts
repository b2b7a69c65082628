// Canonical JSON as PBS computes it for manifest signatures (proxmox-serde `to_canonical_json`):
// object keys sorted by their UTF-8 bytes, no whitespace, strings and numbers written as
// serde_json writes them, and null refused. Signed manifest content holds only strings and
// integers, where JSON.stringify and serde_json agree byte for byte.

import { FormatError } from "../errors.js";

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

// Deeper nesting than this is refused rather than risking a stack overflow on hostile input.
const MAX_DEPTH = 128;

function write(value: unknown, out: string[], path: string, depth = 0): void {
  if (depth > MAX_DEPTH) throw new FormatError("ERR_MANIFEST_SHAPE", `JSON nested deeper than ${MAX_DEPTH} levels (at ${path.slice(0, 200)})`);
  if (value === null || value === undefined) {
    throw new FormatError("ERR_MANIFEST_SHAPE", `canonical JSON cannot hold null (at ${path})`);
  }
  switch (typeof value) {
    case "string":
    case "boolean":
      out.push(JSON.stringify(value));
      return;
    case "number":
      if (!Number.isFinite(value)) throw new FormatError("ERR_MANIFEST_SHAPE", `canonical JSON cannot hold ${value} (at ${path})`);
      out.push(JSON.stringify(value));
      return;
    case "object":
      break;
    default:
      throw new FormatError("ERR_MANIFEST_SHAPE", `canonical JSON cannot hold a ${typeof value} (at ${path})`);
  }
  if (Array.isArray(value)) {
    out.push("[");
    value.forEach((item, i) => {
      if (i > 0) out.push(",");
      write(item, out, `${path}[${i}]`, depth + 1);
    });
    out.push("]");
    return;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort(compareUtf8);
  out.push("{");
  keys.forEach((k, i) => {
    if (i > 0) out.push(",");
    out.push(JSON.stringify(k), ":");
    write(obj[k], out, `${path}.${k}`, depth + 1);
  });
  out.push("}");
}

export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  write(value, out, "$");
  return out.join("");
}
