import fs from "node:fs";
import path from "node:path";
import { FixedIndexReader } from "@cairn/format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareTrees, makeTree, runCli, startTestServer, type TestServer } from "./helpers.js";

describe("backup and restore through the CLI against a real server", () => {
  let t: TestServer;
  let src: string;
  beforeAll(async () => {
    t = await startTestServer();
    src = path.join(t.dir, "src");
    await makeTree(src);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("round-trips a host tree (legacy .cxar) and an image (.fidx) byte for byte", async () => {
    const img = path.join(t.dir, "disk.img");
    const buf = Buffer.alloc(9 * 1024 * 1024 + 123);
    buf.fill(7, 0, 1000);
    buf.fill(9, 8 * 1024 * 1024, 8 * 1024 * 1024 + 5000);
    await fs.promises.writeFile(img, buf);
    const b = await runCli(["backup", `root.cxar:${src}`, `disk.img:${img}`, "--backup-id", "rt", "--backup-time", "1800000000", "--output-format", "json"], t.env);
    expect(b.stderr).toBe("");
    expect(b.code).toBe(0);
    const summary = JSON.parse(b.stdout);
    expect(summary.snapshot).toMatch(/^host\/rt\//);
    expect(summary.newChunks).toBeGreaterThan(0);

    const out = path.join(t.dir, "restore1");
    const r = await runCli(["restore", "host/rt", "root.cxar", out], t.env);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(await compareTrees(src, out)).toEqual([]);

    const imgOut = path.join(t.dir, "disk-restored.img");
    const ri = await runCli(["restore", summary.snapshot, "disk.img", imgOut], t.env);
    expect(ri.code).toBe(0);
    expect((await fs.promises.readFile(imgOut)).equals(buf)).toBe(true);

    const again = await runCli(["backup", `root.cxar:${src}`, `disk.img:${img}`, "--backup-id", "rt", "--backup-time", "1800000001", "--output-format", "json"], t.env);
    expect(again.code).toBe(0);
    const s2 = JSON.parse(again.stdout);
    expect(s2.newChunks).toBe(0);
  });

  it("restores an image's zero blocks as holes, inside data chunks too, for the largest and smallest chunk size", async () => {
    const img = path.join(t.dir, "holes.img");
    const MiB = 1024 * 1024;
    const buf = Buffer.alloc(6 * MiB + 777);
    buf.fill(3, 0, 100 * 1024); // data, then 2 MiB of zeros inside the first 4 MiB chunk
    buf.fill(5, 2 * MiB + 100 * 1024, 4 * MiB + 10); // data across the chunk edge
    buf.fill(6, 6 * MiB, 6 * MiB + 700); // a short tail that ends in zeros
    await fs.promises.writeFile(img, buf);
    for (const [id, chunkKiB] of [["holes", "4096"], ["holes-small", "64"]]) {
      const b = await runCli(["backup", `disk.img:${img}`, "--backup-id", id, "--chunk-size", chunkKiB], t.env);
      expect(b.code, b.stderr).toBe(0);
      const out = path.join(t.dir, `${id}-restored.img`);
      const r = await runCli(["restore", `host/${id}`, "disk.img", out], t.env);
      expect(r.code, r.stderr).toBe(0);
      expect((await fs.promises.readFile(out)).equals(buf)).toBe(true);
      // about 4.3 MiB hold data; the 1.9 MiB zero run and the zeros after 4 MiB are not stored
      const st = await fs.promises.stat(out);
      expect(st.size).toBe(buf.length);
      expect(st.blocks * 512).toBeLessThan(buf.length - 1.5 * MiB);
    }
  });

  it("--chunk-size 64 cuts the image into 64 KiB chunks and still round-trips both archives", async () => {
    const img = path.join(t.dir, "small-chunks.img");
    const buf = Buffer.alloc(300 * 1024 + 17);
    for (let i = 0; i < buf.length; i++) buf[i] = (i * 31) % 251;
    await fs.promises.writeFile(img, buf);
    const b = await runCli(["backup", `root.cxar:${src}`, `disk.img:${img}`, "--backup-id", "cs", "--chunk-size", "64", "--output-format", "json"], t.env);
    expect(b.stderr).toBe("");
    expect(b.code).toBe(0);
    const group = path.join(t.dir, "store1", "host", "cs");
    const snap = fs.readdirSync(group).find((x) => /^\d{4}-/.test(x))!;
    const idx = FixedIndexReader.fromBuffer(fs.readFileSync(path.join(group, snap, "disk.img.fidx")));
    expect(idx.chunkSize).toBe(64 * 1024);
    expect(idx.chunkCount).toBe(5);
    const out = path.join(t.dir, "restore-cs");
    expect((await runCli(["restore", "host/cs", "root.cxar", out], t.env)).code).toBe(0);
    expect(await compareTrees(src, out)).toEqual([]);
    const imgOut = path.join(t.dir, "cs.img");
    expect((await runCli(["restore", "host/cs", "disk.img", imgOut], t.env)).code).toBe(0);
    expect((await fs.promises.readFile(imgOut)).equals(buf)).toBe(true);
    const lvl = await runCli(["backup", `root.cxar:${src}`, "--backup-id", "lvl", "--zstd-level", "9", "--output-format", "json"], t.env);
    expect(lvl.code).toBe(0);
    const lvlOut = path.join(t.dir, "restore-lvl");
    expect((await runCli(["restore", "host/lvl", "root.cxar", lvlOut], t.env)).code).toBe(0);
    expect(await compareTrees(src, lvlOut)).toEqual([]);
    expect((await runCli(["backup", `disk.img:${img}`, "--backup-id", "lvl", "--zstd-level", "20"], t.env)).stderr).toMatch(/ERR_USAGE: --zstd-level/);
    const bad = await runCli(["backup", `disk.img:${img}`, "--backup-id", "cs", "--chunk-size", "8192"], t.env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/ERR_USAGE: --chunk-size/);
  });
});
