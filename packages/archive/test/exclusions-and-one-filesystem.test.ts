import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type ArchiveWarning, ArchiveError, checkExcludePatterns, collectSink, excludePatternProblem, newEncodeStats, openCatalog, quotePattern } from "../src/index.js";
import { encodeToBuffer, removeDir, tempDir } from "./helpers/tree.js";

async function archivedPaths(root: string, exclude?: string[], onWarning?: (w: ArchiveWarning) => void): Promise<string[]> {
  const catalog = collectSink();
  await encodeToBuffer(root, { catalog, exclude, onWarning });
  const cat = await openCatalog(catalog.buffer());
  const out: string[] = [];
  for await (const e of cat.walk()) out.push(e.path.toString("latin1") + (e.kind === "dir" ? "/" : ""));
  return out;
}

describe("exclusions", () => {
  let src: string;
  beforeEach(async () => {
    src = await tempDir();
    await mkdir(join(src, "a", "b", "c"), { recursive: true });
    await mkdir(join(src, "node_modules", "x"), { recursive: true });
    for (const f of ["keep.txt", "drop.tmp", "a/keep.tmp", "a/x.log", "a/b/y.log", "a/b/c/z.log", "a/b/c/important.log", "node_modules/x/i.js", "build"])
      await writeFile(join(src, f), f);
    await writeFile(Buffer.concat([Buffer.from(`${src}/`), Buffer.from([0x62, 0xe9, 0x2e, 0x62, 0x69, 0x6e])]), "latin1 name");
    await writeFile(Buffer.concat([Buffer.from(`${src}/a/`), Buffer.from([0x64, 0xe9, 0x2e, 0x62, 0x69, 0x6e])]), "latin1 name");
  });
  afterEach(async () => removeDir(src));

  it("applies option globs (gitignore syntax, relative to the root)", async () => {
    const got = await archivedPaths(src, ["*.tmp", "node_modules/", "/build", "!a/keep.tmp"]);
    expect(got).not.toContain("drop.tmp");
    expect(got).toContain("a/keep.tmp");
    expect(got).not.toContain("node_modules/");
    expect(got).not.toContain("build");
    expect(got).toContain("keep.txt");
  });

  it("quotes a bad pattern in messages with every control, bidi and invisible character escaped", () => {
    expect(quotePattern("a\u202e[z-a]")).toBe('"a\\u202e[z-a]"');
    expect(quotePattern("\u001b[x\u0085\u007f")).toBe('"\\u001b[x\\u0085\\u007f"');
    expect(quotePattern("*.log")).toBe('"*.log"');
    expect(() => checkExcludePatterns(["ok", "x\u2028["])).toThrow(/exclude pattern "x\\u2028\[" has a/);
  });

  it("an option glob holding a newline matches that one name, as written", async () => {
    await writeFile(join(src, "new\nline"), "x");
    await writeFile(join(src, "new"), "x");
    await writeFile(join(src, "line"), "x");
    const got = await archivedPaths(src, ["new\nline"]);
    expect(got).not.toContain("new\nline");
    expect(got).toContain("new");
    expect(got).toContain("line");
  });

  it("applies .cxarexclude files relative to their folder, inherited downward, deeper rules winning", async () => {
    await writeFile(join(src, ".cxarexclude"), "*.tmp\n/node_modules\n");
    await writeFile(join(src, "a", ".cxarexclude"), Buffer.concat([Buffer.from("*.log\n/keep.tmp\n"), Buffer.from([0x64, 0xe9]), Buffer.from(".*\n")]));
    await writeFile(join(src, "a", "b", "c", ".cxarexclude"), "!important.log\n");
    const stats = newEncodeStats();
    await encodeToBuffer(src, { stats });
    const got = await archivedPaths(src);
    expect(got).toEqual([
      ".cxarexclude",
      "a/",
      "a/.cxarexclude",
      "a/b/",
      "a/b/c/",
      "a/b/c/.cxarexclude",
      "a/b/c/important.log",
      "build",
      "b\u00e9.bin", // 0xe9 sorts after "u": order is by bytes
      "keep.txt",
    ]);
    expect(stats.excluded).toBe(7);
  });

  it("a rule anchored in a subfolder does not apply elsewhere", async () => {
    await writeFile(join(src, "a", ".cxarexclude"), "/b\n");
    await mkdir(join(src, "b"));
    await writeFile(join(src, "b", "f"), "");
    const got = await archivedPaths(src);
    expect(got).toContain("b/f");
    expect(got).not.toContain("a/b/");
  });

  it("refuses option patterns that can never match what they say, naming the pattern and why", async () => {
    const bad: [string, RegExp][] = [
      ["[", /no closing ']'/],
      ["*.[ch", /position 3 with no closing/],
      ["!a[]", /position 3 with no closing/],
      ["[z-a].log", /range z-a/],
      ["foo\\", /lone backslash/],
      ["", /empty/],
      ["   ", /empty/],
      ["#notes", /comment/],
      ["!", /bare '!'/],
      ["/", /only '\/'/],
    ];
    for (const [glob, why] of bad) {
      expect(excludePatternProblem(glob), glob).toMatch(why);
      const err = await archivedPaths(src, ["*.tmp", glob]).catch((e: unknown) => e);
      expect(err, glob).toBeInstanceOf(ArchiveError);
      expect((err as ArchiveError).code).toBe("ERR_ARCHIVE_BAD_PATTERN");
      expect((err as ArchiveError).message).toContain(JSON.stringify(glob));
    }
    for (const good of ["[]]", "[!]]x", "[a-c]", "[\\]]", "\\[", "\\#x", "a]", "x[-]", "[a-]", "**/x/**", "!keep"]) expect(excludePatternProblem(good), good).toBeNull();
    // a sound class still works as a class
    expect(await archivedPaths(src, ["[d-e]rop.tmp"])).not.toContain("drop.tmp");
  });

  it("drops the bad lines of an exclude file with one warning each, and keeps the rest", async () => {
    await writeFile(join(src, "a", ".cxarexclude"), "# comment\n\n*.log\n[x-a]\nkeep.[tmp\n");
    const warnings: ArchiveWarning[] = [];
    const got = await archivedPaths(src, undefined, (w) => warnings.push(w));
    expect(got).not.toContain("a/x.log");
    expect(got).toContain("a/keep.tmp");
    expect(warnings.map((w) => [w.display, w.reason])).toEqual([
      ["a/.cxarexclude", "bad-pattern"],
      ["a/.cxarexclude", "bad-pattern"],
    ]);
    expect(warnings[0].message).toMatch(/"\[x-a\]" has the range x-a.*line ignored/);
    expect(warnings[1].message).toMatch(/"keep\.\[tmp" has a '\[' at position 6/);
  });

  it("keeps mount points of other filesystems as empty directories", async () => {
    // /proc is another filesystem than / on any Linux; archive a small tree that reaches it
    const root = "/";
    const stats = newEncodeStats();
    const exclude = ["/*", "!/proc", "!/etc", "/etc/*", "!/etc/hostname"];
    const catalog = collectSink();
    await encodeToBuffer(root, { exclude, stats, catalog, onWarning: () => {} });
    const cat = await openCatalog(catalog.buffer());
    expect((await cat.list("proc")).length).toBe(0);
    expect(stats.mountPoints).toBeGreaterThanOrEqual(1);
    expect((await cat.list("etc")).map((e) => e.name.toString())).toEqual(["hostname"]);
  });
});
