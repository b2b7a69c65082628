// Deterministic walk of a directory tree: children sorted by name bytes, exclusions applied, one
// filesystem unless told otherwise. Iterative (explicit stack), holding only the sorted names of
// the directories on the current path, so memory does not grow with the size of the tree.

import type { BigIntStats } from "node:fs";
import { constants as fsc, lstat as fsLstat, lstatSync, readdirSync } from "node:fs";
import { open, readdir, stat } from "node:fs/promises";
import { DirMatcher, EXCLUDE_FILE_NAME, type ExcludeRules, quotePattern, rulesFromOption, sanitizeExcludeFile } from "./exclude.js";
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK } from "./format.js";
import { AdaptiveIo } from "./internal/adaptive-io.js";
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
  /** Shared sync/async decision (internal; the encoder passes its own). */
  io?: AdaptiveIo;
}

type StatResult = BigIntStats | { error: unknown };

interface Frame {
  entry: WalkEntry;
  names: Buffer[] | null;
  i: number;
  rules: ExcludeRules[];
  matcher: DirMatcher | null;
  /** lstat of names[k] for k in [i, started), already under way (see STAT_AHEAD). */
  stats: (Promise<StatResult> | undefined)[];
  started: number;
}

/**
 * lstat strategy: synchronously while that is fast (see AdaptiveIo); otherwise asynchronously
 * with up to STAT_AHEAD calls of the current directory in flight ahead of the entry being
 * consumed. Results are consumed in sorted order either way, so the output is the same.
 */
const STAT_AHEAD = 48;

function lstatAsync(abs: Buffer): Promise<StatResult> {
  return new Promise((resolve) => {
    fsLstat(abs, { bigint: true }, (error, st) => resolve(error ? { error } : st));
  });
}

function lstatNow(abs: Buffer): StatResult {
  try {
    return lstatSync(abs, { bigint: true });
  } catch (error) {
    return { error };
  }
}

function newFrame(entry: WalkEntry, rules: ExcludeRules[]): Frame {
  return { entry, names: null, i: 0, rules, matcher: null, stats: [], started: 0 };
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

function isStats(r: StatResult): r is BigIntStats {
  return !("error" in r);
}

function errCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

export async function* walk(root: string | Buffer, opts: WalkOptions = {}): AsyncGenerator<WalkEvent> {
  const warn = opts.onWarning ?? (() => {});
  const io = opts.io ?? new AdaptiveIo();
  const rootAbs = typeof root === "string" ? Buffer.from(root, "utf8") : root;
  // the root itself may be given through a symlink; nothing below it is followed
  const rootStat = await stat(rootAbs, { bigint: true });
  if (!rootStat.isDirectory()) throw new TypeError(`archive root is not a directory: ${rootAbs.toString()}`);
  const excludeFile = opts.excludeFileName === undefined ? Buffer.from(EXCLUDE_FILE_NAME) : opts.excludeFileName === null ? null : Buffer.from(opts.excludeFileName);
  const rootEntry: WalkEntry = { kind: "dir", abs: rootAbs, rel: Buffer.alloc(0), name: Buffer.alloc(0), stat: rootStat, mountPoint: false };
  const stack: Frame[] = [newFrame(rootEntry, rulesFromOption(opts.exclude))];
  yield { type: "enter", entry: rootEntry };

  while (stack.length > 0) {
    const frame = stack[stack.length - 1];
    if (frame.names === null) await openFrame(frame, excludeFile, warn, io);
    const names = frame.names!;
    if (frame.i >= names.length) {
      stack.pop();
      yield { type: "leave", entry: frame.entry };
      continue;
    }
    const k = frame.i++;
    const name = names[k];
    const abs = fsJoin(frame.entry.abs, name);
    const rel = joinPath(frame.entry.rel, name);
    let result: StatResult;
    if (frame.stats[k] === undefined && io.syncOk) {
      result = io.run(() => lstatNow(abs));
    } else {
      // keep up to STAT_AHEAD lstat calls of this directory in flight
      const limit = Math.min(names.length, k + STAT_AHEAD);
      if (frame.started <= k) frame.started = k;
      while (frame.started < limit) {
        const j = frame.started++;
        frame.stats[j] = j === k ? lstatAsync(abs) : lstatAsync(fsJoin(frame.entry.abs, names[j]));
      }
      result = await frame.stats[k]!;
      frame.stats[k] = undefined;
    }
    if (!isStats(result)) {
      const e = result.error;
      if (errCode(e) === "ENOENT") warn(makeWarning(rel, "vanished", "vanished before it was read"));
      else warn(makeWarning(rel, "unreadable", `cannot stat: ${(e as Error).message}`));
      continue;
    }
    const stat = result;
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
      stack.push(newFrame(entry, frame.rules));
      yield { type: "enter", entry };
    } else {
      yield { type: "leaf", entry };
    }
  }
}

async function openFrame(frame: Frame, excludeFile: Buffer | null, warn: WarningHandler, io: AdaptiveIo): Promise<void> {
  const { entry } = frame;
  if (entry.mountPoint) {
    frame.names = [];
    return;
  }
  let names: Buffer[];
  try {
    names = io.syncOk ? io.run(() => readdirSync(entry.abs, { encoding: "buffer" })) : await readdir(entry.abs, { encoding: "buffer" });
  } catch (e) {
    const code = errCode(e);
    if (code === "ENOENT" || code === "ENOTDIR") warn(makeWarning(entry.rel, "vanished", "directory vanished while read; kept empty"));
    else warn(makeWarning(entry.rel, "unreadable", `cannot list directory: ${(e as Error).message}`));
    names = [];
  }
  names.sort(Buffer.compare);
  frame.names = names;
  frame.stats = [];
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
      const where = joinPath(entry.rel, excludeFile);
      const patterns = sanitizeExcludeFile(text.toString("latin1"), (line, problem) =>
        warn(makeWarning(where, "bad-pattern", `exclude pattern ${quotePattern(Buffer.from(line, "latin1").toString("utf8"))} ${problem}; line ignored`)),
      );
      frame.rules = [...frame.rules, { base: entry.rel, patterns }];
    } catch (e) {
      warn(makeWarning(joinPath(entry.rel, excludeFile), "unreadable", `cannot read exclude file: ${(e as Error).message}`));
    }
  }
  frame.matcher = frame.rules.length > 0 ? new DirMatcher(frame.rules) : null;
}
