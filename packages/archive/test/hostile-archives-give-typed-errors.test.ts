import { mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArchiveError, bufferReader, decodeArchive, extractArchive, extractSplitArchive } from "../src/index.js";
import { encodeGoodbye, encodePayloadHeader, encodeStreamHeader, MCXAR_MAGIC, PCXAR_MAGIC, S_IFREG, encodeEntry } from "../src/format.js";
import { Crafter, meta } from "./helpers/craft.js";
import { removeDir, tempDir } from "./helpers/tree.js";

let work: string;
let sentinelDir: string;
let n = 0;

async function sentinelState(): Promise<string> {
  const names = (await readdir(sentinelDir)).sort();
  const contents = await Promise.all(names.map(async (f) => `${f}=${await readFile(join(sentinelDir, f), "utf8").catch(() => "?")}`));
  return contents.join(",");
}

async function extractError(archive: Buffer | Buffer[]): Promise<ArchiveError> {
  const target = join(work, `t${n++}`);
  try {
    await extractArchive(Array.isArray(archive) ? archive : [archive], target, { onWarning: () => {} });
  } catch (e) {
    if (e instanceof ArchiveError) return e;
    throw e;
  }
  throw new Error("extraction succeeded");
}

async function decodeError(archive: Buffer): Promise<ArchiveError | undefined> {
  try {
    for await (const ev of decodeArchive([archive])) if (ev.kind === "file" && ev.content) for await (const _ of ev.content);
  } catch (e) {
    if (e instanceof ArchiveError) return e;
    throw e;
  }
  return undefined;
}

describe("hostile archives", () => {
  let before: string;
  beforeAll(async () => {
    work = await tempDir();
    sentinelDir = join(work, "elsewhere");
    await mkdir(sentinelDir);
    await writeFile(join(sentinelDir, "secret"), "untouched");
    before = await sentinelState();
  });
  afterAll(async () => {
    expect(await sentinelState()).toBe(before);
    await removeDir(work);
  });

  it.each([
    ["..", ".."],
    [".", "."],
    ["a/b", "a/b"],
    ["/abs", "/abs"],
    ["NUL", "a\0b"],
    ["empty", ""],
    ["256 bytes", "x".repeat(256)],
  ])("refuses the entry name %s", async (_label, name) => {
    const err = await extractError(new Crafter().dir("").file(name, "evil").end().bytes());
    expect(err.code).toBe("ERR_ARCHIVE_BAD_NAME");
    expect(err.offset).toBe(16 + 8 + 72); // the record after the root DIR
    const dirErr = await extractError(new Crafter().dir("").dir(name).end().end().bytes());
    expect(dirErr.code).toBe("ERR_ARCHIVE_BAD_NAME");
  });

  it("a symlink then a directory of the same name is refused before anything goes through the link", async () => {
    const archive = new Crafter().dir("").symlink("x", sentinelDir).dir("x").file("secret", "pwned").end().end().bytes();
    const err = await extractError(archive);
    expect(err.code).toBe("ERR_ARCHIVE_CORRUPT");
    expect(err.path).toBe("x");
    // a file under a symlinked name can only be spelled with "/" in the name
    const err2 = await extractError(new Crafter().dir("").symlink("x", sentinelDir).file("x/secret", "pwned").end().bytes());
    expect(err2.code).toBe("ERR_ARCHIVE_BAD_NAME");
  });

  it("a hardlink through a symlink, or to something not extracted, is refused", async () => {
    const viaLink = new Crafter().dir("").hardlink("h", "x/secret").symlink("x", sentinelDir).end().bytes();
    expect((await extractError(viaLink)).code).toBe("ERR_ARCHIVE_ESCAPE");
    const later = new Crafter().dir("").symlink("a", sentinelDir).hardlink("b", "a/secret").end().bytes();
    expect((await extractError(later)).code).toBe("ERR_ARCHIVE_ESCAPE");
    const dotdot = new Crafter().dir("").hardlink("h", "../elsewhere/secret").end().bytes();
    expect((await extractError(dotdot)).code).toBe("ERR_ARCHIVE_BAD_NAME");
    const absolute = new Crafter().dir("").hardlink("h", "/etc/passwd").end().bytes();
    expect((await extractError(absolute)).code).toBe("ERR_ARCHIVE_BAD_NAME");
  });

  it("unsorted names, goodbye mismatches, trailing bytes, wrong magic and version are typed errors", async () => {
    expect((await extractError(new Crafter().dir("").file("b", "1").file("a", "2").end().bytes())).code).toBe("ERR_ARCHIVE_CORRUPT");
    const badGoodbye = new Crafter().dir("").file("a", "1").raw(encodeGoodbye(2, 16)).bytes();
    expect((await extractError(badGoodbye)).code).toBe("ERR_ARCHIVE_CORRUPT");
    const trailing = Buffer.concat([new Crafter().dir("").end().bytes(), Buffer.from("x")]);
    expect((await extractError(trailing)).code).toBe("ERR_ARCHIVE_CORRUPT");
    const magic = new Crafter().dir("").end().bytes();
    magic[0] ^= 1;
    expect((await extractError(magic)).code).toBe("ERR_ARCHIVE_MAGIC");
    const version = new Crafter().dir("").end().bytes();
    version.writeUInt32LE(2, 8);
    expect((await extractError(version)).code).toBe("ERR_ARCHIVE_VERSION");
    expect((await extractError(Buffer.alloc(0))).code).toBe("ERR_ARCHIVE_TRUNCATED");
    const wrongType = new Crafter().dir("").end().bytes();
    wrongType[17] = 9;
    expect((await extractError(wrongType)).code).toBe("ERR_ARCHIVE_CORRUPT");
  });

  it("truncation at every entry boundary and inside entries gives ERR_ARCHIVE_TRUNCATED and leaves no partial file", async () => {
    const c = new Crafter().dir("").dir("d").file("f", "x".repeat(5000)).symlink("l", "f").end().file("g", "").file("h", "hello").end();
    const full = c.bytes();
    const cuts = new Set<number>([...c.boundaries, 20, 60, 100]);
    for (const b of c.boundaries) cuts.add(b + 3).add(b + 12);
    for (const cut of [...cuts].filter((x) => x < full.length)) {
      const err = await extractError(full.subarray(0, cut));
      expect(err.code, `cut at ${cut}`).toBe("ERR_ARCHIVE_TRUNCATED");
      expect(err.offset).toBe(cut);
    }
    // cut in the middle of f's content: the error names the file, and no temp file is left
    const fAt = c.boundaries[2];
    const target = join(work, "mid");
    await expect(extractArchive([full.subarray(0, fAt + 8 + 72 + 1 + 100)], target, { onWarning: () => {} })).rejects.toMatchObject({
      code: "ERR_ARCHIVE_TRUNCATED",
      path: "d/f",
    });
    expect(await readdir(join(target, "d"))).toEqual([]);
    // decode-only: every byte cut is a typed error
    for (let cut = 0; cut < full.length; cut++) expect((await decodeError(full.subarray(0, cut)))?.code).toBe("ERR_ARCHIVE_TRUNCATED");
    expect(await decodeError(full)).toBeUndefined();
  });

  it("any single-byte mutation gives a typed error or a well-formed decode", async () => {
    const full = new Crafter().dir("").dir("d").file("f", "content").symlink("l", "f").end().hardlink("h", "d/f").end().bytes();
    await fc.assert(
      fc.asyncProperty(fc.nat(full.length - 1), fc.integer({ min: 1, max: 255 }), async (at, xor) => {
        const m = Buffer.from(full);
        m[at] ^= xor;
        try {
          for await (const ev of decodeArchive([m])) if (ev.kind === "file" && ev.content) for await (const _ of ev.content);
        } catch (e) {
          expect(e).toBeInstanceOf(ArchiveError);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("split archives: a payload offset that misses a payload header, or a size mismatch, is refused", async () => {
    const payload = Buffer.concat([encodeStreamHeader(PCXAR_MAGIC), encodePayloadHeader(3), Buffer.from("abc")]);
    const mk = (payloadOffset: number, size: number) =>
      Buffer.concat([
        encodeStreamHeader(MCXAR_MAGIC),
        encodeEntry("dir", meta(0o040755), Buffer.alloc(0)),
        encodeEntry("file", meta(S_IFREG | 0o644, { size, payloadOffset }), Buffer.from("f")),
        encodeGoodbye(1, 16),
      ]);
    await extractSplitArchive([mk(16, 3)], bufferReader(payload), join(work, "ok"));
    expect(await readFile(join(work, "ok", "f"), "utf8")).toBe("abc");
    await expect(extractSplitArchive([mk(17, 3)], bufferReader(payload), join(work, "s1"), { onWarning: () => {} })).rejects.toMatchObject({ code: "ERR_ARCHIVE_MAGIC", path: "f" });
    await expect(extractSplitArchive([mk(16, 4)], bufferReader(payload), join(work, "s2"), { onWarning: () => {} })).rejects.toMatchObject({ code: "ERR_ARCHIVE_CORRUPT" });
    await expect(extractSplitArchive([mk(16, 3)], bufferReader(payload.subarray(0, 34)), join(work, "s3"), { onWarning: () => {} })).rejects.toMatchObject({
      code: "ERR_ARCHIVE_TRUNCATED",
    });
    expect(await readdir(join(work, "s3"))).toEqual([]);
  });

  it("with allowExisting, a pre-existing symlink in the target is never followed", async () => {
    const t = join(work, "merge");
    await mkdir(t);
    await symlink(sentinelDir, join(t, "x"));
    const archive = new Crafter().dir("").dir("x").file("secret", "pwned").end().end().bytes();
    await expect(extractArchive([archive], t, { allowExisting: true })).rejects.toMatchObject({ code: "ERR_ARCHIVE_ESCAPE", path: "x" });
    // a file over a pre-existing symlink replaces the link itself (rename), never its target
    const fileOver = new Crafter().dir("").file("x", "replaced").end().bytes();
    await extractArchive([fileOver], t, { allowExisting: true });
    expect(await readFile(join(t, "x"), "utf8")).toBe("replaced");
  });

  it("refuses a non-empty target", async () => {
    const t = join(work, "full");
    await mkdir(t);
    await writeFile(join(t, "x"), "");
    await expect(extractArchive([new Crafter().dir("").end().bytes()], t)).rejects.toMatchObject({ code: "ERR_ARCHIVE_TARGET" });
  });
});
