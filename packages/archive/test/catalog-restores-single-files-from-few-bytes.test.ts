import { link, mkdir, readFile, readlink, stat, symlink, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  ArchiveError,
  type ArchiveWarning,
  bufferReader,
  collectSink,
  CopyingPayloadSink,
  countingReader,
  listCatalog,
  openCatalog,
  restoreFile,
  restoreSubtree,
} from "../src/index.js";
import { diffSnapshots, encodeToBuffer, removeDir, snapshot, tempDir } from "./helpers/tree.js";

describe("catalog: listing and restoring by path", () => {
  let work: string;
  let src: string;
  let single: { archive: Buffer; catalog: Buffer };
  let split: { meta: Buffer; payload: Buffer; catalog: Buffer };

  beforeAll(async () => {
    work = await tempDir();
    src = join(work, "src");
    await mkdir(join(src, "etc", "ssh"), { recursive: true });
    await mkdir(join(src, "var", "lib"), { recursive: true });
    for (let i = 0; i < 200; i++) await writeFile(join(src, "var", "lib", `f${String(i).padStart(3, "0")}`), Buffer.alloc(10_000, i));
    await writeFile(join(src, "etc", "hosts"), "127.0.0.1 localhost\n");
    await writeFile(join(src, "etc", "ssh", "sshd_config"), "PermitRootLogin no\n");
    await symlink("../etc/hosts", join(src, "var", "hosts-link"));
    await link(join(src, "etc", "hosts"), join(src, "var", "hosts-hard"));
    let c = collectSink();
    single = { archive: await encodeToBuffer(src, { catalog: c }), catalog: c.buffer() };
    c = collectSink();
    const p = collectSink();
    const meta = await encodeToBuffer(src, { catalog: c, payload: new CopyingPayloadSink((b) => p.write(b)) });
    split = { meta, payload: p.buffer(), catalog: c.buffer() };
  });
  afterAll(async () => removeDir(work));

  it("lists directories by path and finds every entry", async () => {
    const cat = await openCatalog(single.catalog);
    expect((await listCatalog(cat, "etc")).map((e) => [e.name.toString(), e.kind])).toEqual([
      ["hosts", "file"],
      ["ssh", "dir"],
    ]);
    expect((await listCatalog(cat, "var/lib")).length).toBe(200);
    expect((await listCatalog(cat, "etc/hosts"))[0].size).toBe(20);
    const mt = (await stat(join(src, "etc", "hosts"), { bigint: true })).mtimeNs;
    expect((await cat.lookup("etc/hosts"))!.mtimeNs).toBe(mt);
    await expect(listCatalog(cat, "etc/nope")).rejects.toMatchObject({ code: "ERR_ARCHIVE_NOT_FOUND" });
    const all: string[] = [];
    for await (const e of cat.walk()) all.push(e.path.toString());
    expect(all.length).toBe(cat.entryCount);
    expect(all.slice(0, 4)).toEqual(["etc", "etc/hosts", "etc/ssh", "etc/ssh/sshd_config"]);
  });

  it("restores one file of a single-stream archive reading only its record and content", async () => {
    const catReader = countingReader(bufferReader(single.catalog));
    const archReader = countingReader(bufferReader(single.archive));
    const dest = join(work, "one-sshd");
    await restoreFile(await openCatalog(catReader), archReader, "etc/ssh/sshd_config", dest);
    expect(await readFile(dest, "utf8")).toBe("PermitRootLogin no\n");
    expect((await stat(dest)).mtimeMs).toBeCloseTo((await stat(join(src, "etc/ssh/sshd_config"))).mtimeMs, 2);
    // record (8 + 72 + name) + 19 content bytes, out of a ~2 MB archive
    expect(archReader.counter.bytes).toBe(8 + 72 + 11 + 19);
    expect(single.archive.length).toBeGreaterThan(2_000_000);
    // header + trailer + root, etc, etc/ssh tables only
    expect(catReader.counter.bytes).toBeLessThan(1000);
  });

  it("restores one file of a split archive from the metadata record and one payload", async () => {
    const meta = countingReader(bufferReader(split.meta));
    const payload = countingReader(bufferReader(split.payload));
    const dest = join(work, "split-f123");
    await restoreFile(split.catalog, { metadata: meta, payload }, "var/lib/f123", dest);
    expect((await readFile(dest)).equals(Buffer.alloc(10_000, 123))).toBe(true);
    expect(meta.counter.bytes).toBe(8 + 72 + 4);
    expect(payload.counter.bytes).toBe(16 + 10_000);
  });

  it("restores symlinks and hardlinks (as a copy of the first link) by path", async () => {
    const reader = bufferReader(single.archive);
    await restoreFile(single.catalog, reader, "var/hosts-link", join(work, "l"));
    expect(await readlink(join(work, "l"))).toBe("../etc/hosts");
    await restoreFile(single.catalog, reader, "var/hosts-hard", join(work, "h"));
    expect(await readFile(join(work, "h"), "utf8")).toBe("127.0.0.1 localhost\n");
    // a relative target is resolved against the cwd
    await restoreFile(single.catalog, reader, "etc/hosts", relative(process.cwd(), join(work, "rel")));
    expect(await readFile(join(work, "rel"), "utf8")).toBe("127.0.0.1 localhost\n");
    await expect(restoreFile(single.catalog, reader, "etc/hosts", join(work, "h"))).rejects.toMatchObject({ code: "ERR_ARCHIVE_TARGET" });
    await expect(restoreFile(single.catalog, reader, "etc/none", join(work, "n"))).rejects.toMatchObject({ code: "ERR_ARCHIVE_NOT_FOUND" });
  });

  it("restores a subtree reading only its slice; a hardlink leaving the subtree becomes a copy", async () => {
    for (const [label, cat, archive] of [
      ["single", single.catalog, countingReader(bufferReader(single.archive))],
      ["split", split.catalog, { metadata: countingReader(bufferReader(split.meta)), payload: bufferReader(split.payload) }],
    ] as const) {
      const dest = join(work, `sub-${label}`);
      const warnings: ArchiveWarning[] = [];
      await restoreSubtree(cat, archive, "var", dest, { onWarning: (w) => warnings.push(w) });
      const want = await snapshot(join(src, "var"), { skipRootMeta: false });
      const got = await snapshot(dest);
      // the copied hardlink is no longer a link: compare without link groups
      for (const m of [want, got]) for (const v of m.values()) v.linkGroup = "";
      expect(diffSnapshots(want, got)).toEqual([]);
      expect(warnings.map((w) => [w.display, w.reason])).toEqual([["hosts-hard", "hardlink-outside"]]);
      const counted = "metadata" in archive ? archive.metadata : archive;
      expect((counted as { counter: { bytes: number } }).counter.bytes).toBeLessThan((label === "single" ? single.archive : split.meta).length);
    }
    const etc = join(work, "sub-etc");
    await restoreSubtree(split.catalog, { metadata: bufferReader(split.meta), payload: bufferReader(split.payload) }, "etc/ssh", etc);
    expect(await readFile(join(etc, "sshd_config"), "utf8")).toBe("PermitRootLogin no\n");
  });

  it("any mutation of the catalog gives a typed error or a walk that terminates", async () => {
    const small = single.catalog.subarray(0, single.catalog.length);
    await fc.assert(
      fc.asyncProperty(fc.nat(small.length - 1), fc.integer({ min: 1, max: 255 }), async (at, xor) => {
        const m = Buffer.from(small);
        m[at] ^= xor;
        try {
          const cat = await openCatalog(m);
          let n = 0;
          for await (const _ of cat.walk()) n++;
          expect(n).toBeLessThanOrEqual(m.length);
        } catch (e) {
          expect(e).toBeInstanceOf(ArchiveError);
        }
      }),
      { numRuns: 300 },
    );
  });
});
