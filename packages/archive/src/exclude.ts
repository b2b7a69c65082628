// Exclusion rules: the `exclude` option and `.cxarexclude` files, both in gitignore syntax
// (via `ignore`). A file's rules apply relative to the folder holding it and are inherited
// downward; deeper rules win. Paths are matched as latin1 strings of their bytes.

import ignore, { type Ignore } from "ignore";

export const EXCLUDE_FILE_NAME = ".cxarexclude";

/** One set of patterns anchored at `base` (archive path of the folder they belong to). */
export interface ExcludeRules {
  base: Buffer;
  patterns: string;
}

export function rulesFromOption(globs: readonly string[] | undefined): ExcludeRules[] {
  if (!globs || globs.length === 0) return [];
  // option globs are JS strings (UTF-8 intent); match them as the same bytes names carry
  return [{ base: Buffer.alloc(0), patterns: globs.map((g) => Buffer.from(g, "utf8").toString("latin1")).join("\n") }];
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
