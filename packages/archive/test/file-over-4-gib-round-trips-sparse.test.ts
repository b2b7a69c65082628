import { open, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectSink, encodeArchive, extractArchive, openCatalog } from "../src/index.js";
import { removeDir, tempDir } from "./helpers/tree.js";

// A sparse 4.5 GiB file: encode streams 4.5 GiB of (mostly zero) content straight into the
// extractor, which restores zero blocks as holes. Nothing of that size touches the disk.
const SIZE = 4.5 * 1024 ** 3;
const MARK_AT = 4 * 1024 ** 3 + 12345; // beyond 32-bit offsets

describe("a file larger than 4 GiB", () => {
  let work: string;
  beforeAll(async () => {
    work = await tempDir();
    await writeFile(join(work, "small"), "x");
    const fh = await open(join(work, "huge"), "w");
    await fh.truncate(SIZE);
    await fh.write(Buffer.from("marker"), 0, 6, MARK_AT);
    await fh.write(Buffer.from("end"), 0, 3, SIZE - 3);
    await fh.close();
  });
  afterAll(async () => removeDir(work));

  it("round-trips through encode -> extract with 64-bit sizes, restored sparse", async () => {
    const src = work;
    const out = `${work}-out`;
    const catalog = collectSink();
    try {
      const stats = await extractArchive(encodeArchive(src, { catalog, readSize: 4 << 20 }), out);
      expect(stats.bytes).toBe(SIZE + 1);
      const st = await stat(join(out, "huge"));
      expect(st.size).toBe(SIZE);
      expect(st.blocks * 512).toBeLessThan(1 << 20); // holes, not 4.5 GiB of zeros
      const fh = await open(join(out, "huge"), "r");
      const b = Buffer.alloc(6);
      await fh.read(b, 0, 6, MARK_AT);
      expect(b.toString()).toBe("marker");
      await fh.read(b, 0, 3, SIZE - 3);
      expect(b.subarray(0, 3).toString()).toBe("end");
      await fh.close();
      expect(await readFile(join(out, "small"), "utf8")).toBe("x");
      const e = await (await openCatalog(catalog.buffer())).lookup("huge");
      expect(e?.size).toBe(SIZE);
    } finally {
      await removeDir(out);
    }
  }, 180_000);
});
