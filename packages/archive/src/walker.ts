// Deterministic walk of a directory tree: children sorted by name bytes, exclusions applied, one
// filesystem unless told otherwise. Iterative (explicit stack), holding only the sorted names of
// the directories on the current path, so memory does not grow with the size of the tree.

import type { BigIntStats } from "node:fs";
import { constants as fsc } from "node:fs";
import { lstat, open, readdir, stat } from "node:fs/promises";
import { DirMatcher, EXCLUDE_FILE_NAME, type ExcludeRules, rulesFromOption } from "./exclude.js";
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK } from "./format.js";
import { fsJoin, joinPath } from "./internal/paths.js";
import { makeWarning, type WarningHandler } from "./warnings.js";

export type WalkKind = "dir" | "file" | "symlink" | "device" | "fifo";

export interface WalkEntry {
  kind: WalkKind;
  /** Filesystem path (bytes). */
  abs: Buffer;
  /** Archive path (bytes, "" for the root). */
  rel: Buffer;
  name: Buffer;
  stat: BigIntStats;
  /** A directory on another filesystem, kept empty. */
  mountPoint: boolean;
}

export type WalkEvent = { type: "enter"; entry: WalkEntry } | { type: "leaf"; entry: WalkEntry } | { type: "leave"; entry: WalkEntry };

export interface WalkOptions {
  /** gitignore-style patterns, relative to the root. */
  exclude?: readonly string[];
  /** Name of the in-tree exclude files (default `.cxarexclude`); `null` disables them. */
  excludeFileName?: string | null;
  /** Descend into other filesystems (default false: mount points become empty dirs). */
  crossDevices?: boolean;
  onWarning?: WarningHandler;
  /** Incremented for every entry left out by a rule. */
  counters?: { excluded: number };
}

interface Frame {
  entry: WalkEntry;
  names: Buffer[] | null;
  i: number;
  rules: ExcludeRules[];
  matcher: DirMatcher | null;
}

function kindOf(mode: number): WalkKind | "socket" | undefined {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return "dir";
    case S_IFREG:
      return "file";
    case S_IFLNK:
      return "symlink";
    case S_IFCHR:
    case S_IFBLK:
      return "device";
    case S_IFIFO:
      return "fifo";
    case S_IFSOCK:
      return "socket";
    default:
      return undefined;
  }
}

function errCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

export async function* walk(root: string | Buffer, opts: WalkOptions = {}): AsyncGenerator<WalkEvent> {
  const warn = opts.onWarning ?? (() => {});
  const rootAbs = typeof root === "string" ? Buffer.from(root, "utf8") : root;
  // the root itself may be given through a symlink; nothing below it is followed
  const rootStat = await stat(rootAbs, { bigint: true });
  if (!rootStat.isDirectory()) throw new TypeError(`archive root is not a directory: ${rootAbs.toString()}`);
  const excludeFile = opts.excludeFileName === undefined ? Buffer.from(EXCLUDE_FILE_NAME) : opts.excludeFileName === null ? null : Buffer.from(opts.excludeFileName);
  const rootEntry: WalkEntry = { kind: "dir", abs: rootAbs, rel: Buffer.alloc(0), name: Buffer.alloc(0), stat: rootStat, mountPoint: false };
  const stack: Frame[] = [{ entry: rootEntry, names: null, i: 0, rules: rulesFromOption(opts.exclude), matcher: null }];
  yield { type: "enter", entry: rootEntry };

  while (stack.length > 0) {
    const frame = stack[stack.length - 1];
    if (frame.names === null) await openFrame(frame, excludeFile, warn);
    const names = frame.names!;
    if (frame.i >= names.length) {
      stack.pop();
      yield { type: "leave", entry: frame.entry };
      continue;
    }
    const name = names[frame.i++];
    const abs = fsJoin(frame.entry.abs, name);
    const rel = joinPath(frame.entry.rel, name);
    let stat: BigIntStats;
    try {
      stat = await lstat(abs, { bigint: true });
    } catch (e) {
      if (errCode(e) === "ENOENT") warn(makeWarning(rel, "vanished", "vanished before it was read"));
      else warn(makeWarning(rel, "unreadable", `cannot stat: ${(e as Error).message}`));
      continue;
    }
    const kind = kindOf(Number(stat.mode));
    if (kind === "socket") {
      warn(makeWarning(rel, "socket-skipped", "socket skipped"));
      continue;
    }
    if (kind === undefined) {
      warn(makeWarning(rel, "unreadable", `unknown file type 0o${stat.mode.toString(8)}`));
      continue;
    }
    if (frame.matcher?.excluded(rel, kind === "dir")) {
      if (opts.counters) opts.counters.excluded++;
      continue;
    }
    const entry: WalkEntry = { kind, abs, rel, name, stat, mountPoint: false };
    if (kind === "dir") {
      entry.mountPoint = !opts.crossDevices && stat.dev !== rootStat.dev;
      stack.push({ entry, names: null, i: 0, rules: frame.rules, matcher: null });
      yield { type: "enter", entry };
    } else {
      yield { type: "leaf", entry };
    }
  }
}

async function openFrame(frame: Frame, excludeFile: Buffer | null, warn: WarningHandler): Promise<void> {
  const { entry } = frame;
  if (entry.mountPoint) {
    frame.names = [];
    return;
  }
  let names: Buffer[];
  try {
    names = await readdir(entry.abs, { encoding: "buffer" });
  } catch (e) {
    const code = errCode(e);
    if (code === "ENOENT" || code === "ENOTDIR") warn(makeWarning(entry.rel, "vanished", "directory vanished while read; kept empty"));
    else warn(makeWarning(entry.rel, "unreadable", `cannot list directory: ${(e as Error).message}`));
    names = [];
  }
  names.sort(Buffer.compare);
  frame.names = names;
  if (excludeFile && names.some((n) => n.equals(excludeFile))) {
    try {
      // O_NOFOLLOW|O_NONBLOCK: an exclude "file" that is a symlink or fifo is not read
      const fh = await open(fsJoin(entry.abs, excludeFile), fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
      let text: Buffer;
      try {
        if (!(await fh.stat()).isFile()) throw new Error("not a regular file");
        text = await fh.readFile();
      } finally {
        await fh.close();
      }
      frame.rules = [...frame.rules, { base: entry.rel, patterns: text.toString("latin1") }];
    } catch (e) {
      warn(makeWarning(joinPath(entry.rel, excludeFile), "unreadable", `cannot read exclude file: ${(e as Error).message}`));
    }
  }
  frame.matcher = frame.rules.length > 0 ? new DirMatcher(frame.rules) : null;
}
