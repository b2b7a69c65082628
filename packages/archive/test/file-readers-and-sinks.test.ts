import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CopyingPayloadSink,
  encodeArchive,
  extractSplitArchive,
  openCatalog,
  openFileReader,
  openFileSink,
  readerStream,
  restoreFile,
} from "../src/index.js";
import { diffSnapshots, removeDir, snapshot, tempDir } from "./helpers/tree.js";

describe("file-backed sinks and readers", () => {
  let work: string;
  beforeAll(async () => {
    work = await tempDir();
    await mkdir(join(work, "src", "d"), { recursive: true });
    await writeFile(join(work, "src", "d", "f"), Buffer.alloc(2_500_000, "f"));
    await writeFile(join(work, "src", "g"), "g");
  });
  afterAll(async () => removeDir(work));

  it("writes .mcxar/.pcxar/.ccat to files and restores from them", async () => {
    const meta = await openFileSink(join(work, "a.mcxar"));
    const payload = await openFileSink(join(work, "a.pcxar"));
    const catalog = await openFileSink(join(work, "a.ccat"));
    for await (const piece of encodeArchive(join(work, "src"), { catalog, payload: new CopyingPayloadSink((b) => payload.write(b)) })) await meta.write(piece);
    await Promise.all([meta.close(), payload.close(), catalog.close()]);

    const metaR = await openFileReader(join(work, "a.mcxar"));
    const payloadR = await openFileReader(join(work, "a.pcxar"));
    const catR = await openFileReader(join(work, "a.ccat"));
    try {
      expect(payloadR.size).toBe(16 + 16 + 2_500_000 + 16 + 1);
      await extractSplitArchive(readerStream(metaR), payloadR, join(work, "out"));
      expect(diffSnapshots(await snapshot(join(work, "src")), await snapshot(join(work, "out")))).toEqual([]);
      await restoreFile(await openCatalog(catR), { metadata: metaR, payload: payloadR }, "d/f", join(work, "f-only"));
      expect((await snapshot(join(work, "f-only"))).get("")?.size).toBe(2_500_000);
    } finally {
      await Promise.all([metaR.close(), payloadR.close(), catR.close()]);
    }
  });
});
