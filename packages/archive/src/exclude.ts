// Exclusion rules: the `exclude` option and `.cxarexclude` files, both in gitignore syntax
// (via `ignore`). A file's rules apply relative to the folder holding it and are inherited
// downward; deeper rules win. Paths are matched as latin1 strings of their bytes.

import ignore, { type Ignore } from "ignore";
import { ArchiveError } from "./errors.js";

export const EXCLUDE_FILE_NAME = ".cxarexclude";

/** One set of patterns anchored at `base` (archive path of the folder they belong to). */
export interface ExcludeRules {
  base: Buffer;
  /** An exclude file's text (one pattern per line), or patterns one each (`--exclude`: a pattern may hold a newline). */
  patterns: string | string[];
}

/**
 * Why a gitignore pattern can never match what its writer meant, or `null` when it is sound.
 * gitignore itself drops such lines without a word (an unclosed `[`, a trailing `\\`), and
 * `ignore` reads a reversed range like `[z-a]` as something else again; a backup must not
 * silently keep what the user asked it to leave out.
 */
export function excludePatternProblem(pattern: string): string | null {
  if (pattern.trim() === "") return "is empty";
  if (pattern.startsWith("#")) return "starts with '#', which makes it a comment (write \\# for a literal #)";
  const start = pattern.startsWith("!") ? 1 : 0;
  const body = pattern.slice(start).trim();
  if (body === "") return "is a bare '!' that names no path";
  if (/^\/+$/.test(body)) return "names no path, only '/'";
  for (let i = start; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") {
      if (i + 1 >= pattern.length) return "ends with a lone backslash (write \\\\ for a literal one)";
      i++;
    } else if (c === "[") {
      const end = bracketEnd(pattern, i);
      if (typeof end === "string") return end;
      i = end;
    }
  }
  return null;
}

/** Index of the `]` closing the bracket expression opened at `open`, or the problem with it. */
function bracketEnd(s: string, open: number): number | string {
  let j = open + 1;
  if (s[j] === "!" || s[j] === "^") j++;
  if (s[j] === "]") j++; // a `]` first in the set is a member, not the end
  let prev: string | null = null;
  for (; j < s.length; j++) {
    let ch = s[j];
    if (ch === "]") return j;
    if (ch === "\\") {
      j++;
      if (j >= s.length) break;
      ch = s[j];
    } else if (ch === "-" && prev !== null && j + 1 < s.length && s[j + 1] !== "]") {
      let k = j + 1;
      let hi = s[k];
      if (hi === "\\") hi = s[++k];
      if (hi === undefined) break;
      if (hi < prev) return `has the range ${prev}-${hi} at position ${open + 1}, whose ends are in reverse order`;
      j = k;
      prev = null;
      continue;
    }
    prev = ch ?? null;
  }
  return `has a '[' at position ${open + 1} with no closing ']' (write \\[ for a literal [)`;
}

/**
 * A pattern quoted for a message: JSON string syntax, which escapes C0 controls, plus `\uXXXX`
 * for what JSON leaves raw but a terminal would act on (DEL, C1 controls, separators,
 * bidirectional overrides, invisible characters), as names in listings are escaped.
 */
export function quotePattern(pattern: string): string {
  return JSON.stringify(pattern).replace(/[\u007f-\u009f\u200b\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Throws `ERR_ARCHIVE_BAD_PATTERN` naming the first pattern that cannot work. */
export function checkExcludePatterns(globs: readonly string[] | undefined): void {
  for (const g of globs ?? []) {
    const problem = excludePatternProblem(g);
    if (problem !== null) throw new ArchiveError("ERR_ARCHIVE_BAD_PATTERN", `exclude pattern ${quotePattern(g)} ${problem}`);
  }
}

/**
 * The lines of an exclude file with the ones that cannot work left out, each reported to
 * `onBad` (blank lines and `#` comments are normal in a file and kept).
 */
export function sanitizeExcludeFile(text: string, onBad: (line: string, problem: string) => void): string {
  const kept: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const problem = line.trim() === "" || line.startsWith("#") ? null : excludePatternProblem(line);
    if (problem === null) kept.push(line);
    else onBad(line, problem);
  }
  return kept.join("\n");
}

export function rulesFromOption(globs: readonly string[] | undefined): ExcludeRules[] {
  if (!globs || globs.length === 0) return [];
  checkExcludePatterns(globs);
  // option globs are JS strings (UTF-8 intent); match them as the same bytes names carry
  return [{ base: Buffer.alloc(0), patterns: globs.map((g) => Buffer.from(g, "utf8").toString("latin1")) }];
}

/**
 * Matcher for the children of one directory. `ignore` caches every path it sees, so a fresh
 * instance per directory keeps memory bounded by one directory's entries.
 */
export class DirMatcher {
  private readonly compiled: { prefixLen: number; ig: Ignore }[];

  constructor(rules: readonly ExcludeRules[]) {
    this.compiled = rules.map((r) => ({
      prefixLen: r.base.length === 0 ? 0 : r.base.length + 1,
      ig: ignore({ ignorecase: false, allowRelativePaths: true }).add(r.patterns),
    }));
  }

  get empty(): boolean {
    return this.compiled.length === 0;
  }

  /** `rel` is the archive path of the candidate (below every rule base). */
  excluded(rel: Buffer, isDir: boolean): boolean {
    let excluded = false;
    for (const { prefixLen, ig } of this.compiled) {
      const sub = rel.subarray(prefixLen).toString("latin1") + (isDir ? "/" : "");
      const r = ig.test(sub);
      if (r.ignored) excluded = true;
      else if (r.unignored) excluded = false;
    }
    return excluded;
  }
}
