// The fast paths of the walk and of change detection give the same results as the slow ones:
// the walker's synchronous and asynchronous (48 lstat in flight) strategies produce identical
// archives, and the metadata index's synchronous scan finds exactly what the streaming decoder
// finds, while a damaged .mcxar still gives the decoder's typed error.

import { mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArchiveError, bufferReader, collectSink, decodeArchive, encodeArchive, newEncodeStats, openMetadataIndex, type PayloadSink } from "../src/index.js";
import { AdaptiveIo } from "../src/internal/adaptive-io.js";
import { removeDir, tempDir } from "./helpers/tree.js";

function countingPayload(): PayloadSink {
  let pos = 0;
  return {
    position: () => pos,
    write(b) {
      pos += b.length;
    },
    reuse(_o, length) {
      const at = pos;
      pos += length;
      return at;
    },
  };
}

async function encodeSplit(src: string, io?: AdaptiveIo): Promise<Buffer> {
  const meta = collectSink();
  for await (const p of encodeArchive(src, { payload: countingPayload(), onWarning: () => {}, io })) meta.write(p);
  return meta.buffer();
}

describe("walker and metadata index fast paths", () => {
  let src: string;
  beforeAll(async () => {
    src = await tempDir();
    // more entries in one directory than the asynchronous window, plus nesting and symlinks
    for (let i = 0; i < 130; i++) await writeFile(join(src, `f${String(i).padStart(3, "0")}`), `file ${i}`);
    await mkdir(join(src, "sub", "deeper"), { recursive: true });
    for (let i = 0; i < 60; i++) await writeFile(join(src, "sub", `g${i}`), Buffer.alloc(i * 10, i));
    await writeFile(join(src, "sub", "deeper", "x"), "x");
    await symlink("f001", join(src, "link"));
  });
  afterAll(async () => removeDir(src));

  it("the asynchronous lstat strategy gives the same archive as the synchronous one", async () => {
    // every synchronous call counts as slow: after the first one the walker stays asynchronous
    const slow = new AdaptiveIo(-1, 1, 1e9);
    const a = await encodeSplit(src);
    const b = await encodeSplit(src, slow);
    expect(slow.backoffs).toBeGreaterThan(0);
    expect(b.equals(a)).toBe(true);
  });

  it("an entry vanishing while its directory is statted asynchronously is left out with a warning", async () => {
    const dir = await tempDir();
    try {
      for (let i = 0; i < 100; i++) await writeFile(join(dir, `f${String(i).padStart(3, "0")}`), "x");
      const stats = newEncodeStats();
      const warnings: string[] = [];
      let pieces = 0;
      const meta = collectSink();
      for await (const p of encodeArchive(dir, {
        payload: countingPayload(),
        stats,
        io: new AdaptiveIo(-1, 1, 1e9),
        flushSize: 1,
        onWarning: (w) => warnings.push(`${w.reason} ${w.display}`),
      })) {
        meta.write(p);
        // piece 1 is the root's record (before its listing); by piece 3 the root is listed and
        // the first window of lstat calls is under way, f099 is beyond it
        if (++pieces === 3) await rm(join(dir, "f099"));
      }
      expect(stats.files).toBe(99);
      expect(warnings).toEqual(["vanished f099"]);
    } finally {
      await removeDir(dir);
    }
  });

  it("the index finds exactly the decoder's files and fields", async () => {
    const meta = await encodeSplit(src);
    const idx = await openMetadataIndex(bufferReader(meta));
    let files = 0;
    for await (const ev of decodeArchive([meta])) {
      if (ev.kind !== "file") continue;
      files++;
      const m = ev.meta;
      expect(idx.lookup(ev.path)).toEqual({ size: m.size, mtimeNs: m.mtimeNs, ctimeNs: m.ctimeNs, ino: m.ino, dev: m.dev, payloadOffset: m.payloadOffset });
    }
    expect(idx.size).toBe(files);
    expect(files).toBe(191);
    expect(idx.lookup("/sub/deeper/x/")?.size).toBe(1);
    expect(idx.lookup("sub")).toBeUndefined();
    expect(idx.lookup("link")).toBeUndefined();
    expect(idx.lookup("nope")).toBeUndefined();
  });

  it("a damaged .mcxar gives the decoder's typed error", async () => {
    const meta = await encodeSplit(src);
    const codeOf = async (b: Buffer) => {
      try {
        await openMetadataIndex(b);
      } catch (e) {
        if (e instanceof ArchiveError) return e.code;
        throw e;
      }
      return "accepted";
    };
    expect(await codeOf(meta.subarray(0, meta.length - 5))).toBe("ERR_ARCHIVE_TRUNCATED");
    expect(await codeOf(Buffer.concat([meta, Buffer.of(0)]))).toBe("ERR_ARCHIVE_CORRUPT");
    const badMarker = Buffer.from(meta);
    badMarker[16 + 200] ^= 0xff;
    expect(["ERR_ARCHIVE_CORRUPT", "ERR_ARCHIVE_BAD_NAME", "ERR_ARCHIVE_TRUNCATED", "accepted"]).toContain(await codeOf(badMarker));
    // every single-byte change: the index either agrees with the decoder or throws its error
    for (let i = 0; i < meta.length; i += 97) {
      const b = Buffer.from(meta);
      b[i] ^= 0x41;
      let decoderError: string | undefined;
      try {
        for await (const _ of decodeArchive([b], { layout: "split" }));
      } catch (e) {
        decoderError = (e as ArchiveError).code;
      }
      expect(await codeOf(b)).toBe(decoderError ?? "accepted");
    }
  });
});
