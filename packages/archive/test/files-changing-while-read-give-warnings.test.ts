import { appendFile, open, rm, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type ArchiveWarning, decodeArchive, encodeArchive } from "../src/index.js";
import { removeDir, tempDir } from "./helpers/tree.js";

const SIZE = 64 * 1024;

describe("files that change or vanish while the encoder reads them", () => {
  let src: string;
  beforeEach(async () => {
    src = await tempDir();
    for (const [name, ch] of [
      ["a-shrinks", "A"],
      ["b-grows", "B"],
      ["c-modified", "C"],
      ["d-vanishes", "D"],
      ["e-steady", "E"],
    ])
      await writeFile(join(src, name), Buffer.alloc(SIZE, ch));
  });
  afterEach(async () => removeDir(src));

  it("are reported with path and reason; the archive stays well-formed", async () => {
    const warnings: ArchiveWarning[] = [];
    const pieces: Buffer[] = [];
    const seen = new Set<string>();
    for await (const piece of encodeArchive(src, { readSize: 4096, flushSize: 1, onWarning: (w) => warnings.push(w) })) {
      pieces.push(Buffer.from(piece));
      for (const ch of "ABC") {
        if (seen.has(ch) || !piece.includes(Buffer.alloc(4096, ch))) continue;
        seen.add(ch);
        if (ch === "A") await truncate(join(src, "a-shrinks"), 10_000);
        if (ch === "B") await appendFile(join(src, "b-grows"), "more");
        if (ch === "C") {
          const fh = await open(join(src, "c-modified"), "r+");
          await fh.write(Buffer.alloc(SIZE, "c"), 0, SIZE, 0);
          await fh.utimes(new Date(), new Date(Date.now() + 5000));
          await fh.close();
          await rm(join(src, "d-vanishes"));
        }
      }
    }
    expect(warnings.map((w) => [w.display, w.reason])).toEqual([
      ["a-shrinks", "size-changed"],
      ["b-grows", "size-changed"],
      ["c-modified", "mtime-changed"],
      ["d-vanishes", "vanished"],
    ]);
    const contents = new Map<string, Buffer>();
    for await (const ev of decodeArchive(pieces)) {
      if (ev.kind !== "file" || !ev.content) continue;
      const parts: Buffer[] = [];
      for await (const p of ev.content) parts.push(Buffer.from(p));
      contents.set(ev.path.toString(), Buffer.concat(parts));
    }
    expect([...contents.keys()]).toEqual(["a-shrinks", "b-grows", "c-modified", "e-steady"]);
    expect(contents.get("a-shrinks")!.equals(Buffer.concat([Buffer.alloc(10_000, "A"), Buffer.alloc(SIZE - 10_000)]))).toBe(true);
    expect(contents.get("b-grows")!.equals(Buffer.alloc(SIZE, "B"))).toBe(true);
    expect(contents.get("c-modified")!.length).toBe(SIZE);
  });
});
