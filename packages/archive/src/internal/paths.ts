// Archive paths are raw bytes: components joined by "/", relative to the archive root, the root
// itself is the empty path. Keys of maps are the latin1 strings of those bytes (1 char = 1 byte).

import { ArchiveError } from "../errors.js";
import { NAME_MAX } from "../format.js";

const SLASH = 0x2f;
const DOT = 0x2e;

export type PathLike = Buffer | string;

export function toPathBuffer(p: PathLike): Buffer {
  const b = typeof p === "string" ? Buffer.from(p, "utf8") : p;
  // tolerate leading/trailing slashes from callers ("/etc/" means "etc")
  let start = 0;
  let end = b.length;
  while (start < end && b[start] === SLASH) start++;
  while (end > start && b[end - 1] === SLASH) end--;
  return b.subarray(start, end);
}

export function joinPath(parent: Buffer, name: Buffer): Buffer {
  if (parent.length === 0) return name;
  return Buffer.concat([parent, Buffer.of(SLASH), name]);
}

export function pathKey(p: Buffer): string {
  return p.toString("latin1");
}

export function nameProblem(name: Buffer): string | undefined {
  if (name.length === 0) return "empty name";
  if (name.length > NAME_MAX) return `name longer than ${NAME_MAX} bytes`;
  if (name.includes(SLASH)) return "name contains '/'";
  if (name.includes(0)) return "name contains NUL";
  if (name.length === 1 && name[0] === DOT) return "name is '.'";
  if (name.length === 2 && name[0] === DOT && name[1] === DOT) return "name is '..'";
  return undefined;
}

export function checkName(name: Buffer, where: { path?: Buffer; offset?: number }): void {
  const problem = nameProblem(name);
  if (problem) throw new ArchiveError("ERR_ARCHIVE_BAD_NAME", problem, { path: where.path ?? name, offset: where.offset });
}

export function splitPath(p: Buffer): Buffer[] {
  if (p.length === 0) return [];
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= p.length; i++) {
    if (i === p.length || p[i] === SLASH) {
      parts.push(p.subarray(start, i));
      start = i + 1;
    }
  }
  return parts;
}

/** Splits and checks every component (for hardlink targets and caller-given paths). */
export function checkedComponents(p: Buffer, where: { path?: Buffer; offset?: number }): Buffer[] {
  const parts = splitPath(p);
  for (const part of parts) checkName(part, { path: where.path ?? p, offset: where.offset });
  return parts;
}

/** Absolute filesystem path of `rel` under `root` (both raw bytes). */
export function fsJoin(root: Buffer, rel: Buffer): Buffer {
  if (rel.length === 0) return root;
  if (root.length > 0 && root[root.length - 1] === SLASH) return Buffer.concat([root, rel]);
  return Buffer.concat([root, Buffer.of(SLASH), rel]);
}

/** Filesystem path as absolute bytes (relative ones resolved against the cwd), without a trailing "/". */
export function absoluteFsPath(p: PathLike): Buffer {
  let b = typeof p === "string" ? Buffer.from(p, "utf8") : p;
  if (b[0] !== SLASH) b = Buffer.concat([Buffer.from(process.cwd(), "utf8"), Buffer.of(SLASH), b]);
  let end = b.length;
  while (end > 1 && b[end - 1] === SLASH) end--;
  return b.subarray(0, end);
}
