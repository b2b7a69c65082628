import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeArchive, encodeArchive } from "../src/index.js";
import { removeDir, tempDir } from "./helpers/tree.js";

const openFds = async () => (await readdir("/proc/self/fd")).length;

describe("the encoder's read-ahead", () => {
  let src: string;
  beforeAll(async () => {
    src = await tempDir();
    for (let d = 0; d < 3; d++) {
      await mkdir(join(src, `d${d}`));
      for (let i = 0; i < 50; i++) await writeFile(join(src, `d${d}`, `f${i}`), Buffer.alloc(1000 + i, i));
    }
  });
  afterAll(async () => removeDir(src));

  it("closes every file it opened ahead when the consumer stops early", async () => {
    const before = await openFds();
    let pieces = 0;
    // stop inside d0, while up to 32 files of it are being read ahead
    for await (const _ of encodeArchive(src, { flushSize: 1, lookahead: 32 })) if (++pieces === 5) break;
    expect(pieces).toBe(5);
    expect(await openFds()).toBe(before);
  });

  it("produces the same bytes with and without read-ahead", async () => {
    const collect = async (lookahead: number) => {
      const parts: Buffer[] = [];
      for await (const p of encodeArchive(src, { lookahead })) parts.push(Buffer.from(p));
      return Buffer.concat(parts);
    };
    const a = await collect(0);
    const b = await collect(32);
    expect(a.equals(b)).toBe(true);
    let files = 0;
    for await (const ev of decodeArchive([a])) if (ev.kind === "file") files++;
    expect(files).toBe(150);
  });
});
