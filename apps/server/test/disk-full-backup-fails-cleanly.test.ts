// Disk full during an upload: the datastore sits on a 16 MiB tmpfs, mostly taken by a filler
// file. The backup fails with ERR_NO_SPACE at the client, the store keeps no partial chunk, no
// temp file and no half snapshot, and once space is freed the same backup succeeds and verifies.
// Needs root (mount); skipped with a note elsewhere.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { BackupWriter, type CairnClient } from "@cairn/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatastore } from "../src/stores.js";
import { LONG, badChunkFiles, restoreHash, tempFiles, unfinishedSnapshots } from "./chaos/store-checks.js";
import { waitFor } from "./daemon.js";
import { type TestServer, makeChunk, startTestServer } from "./helpers.js";

function tryMount(dir: string): boolean {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", dir], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

// Free space before the 8 MiB backup: the failure lands on a chunk early or late, or on the index.
const FREE_MIB = LONG ? [3, 1, 0.25, 5, 6, 7.5, 7.9, 2] : [3];

describe("a full disk during upload", () => {
  let t: TestServer;
  let api: CairnClient;
  let mnt: string;
  let mounted = false;
  let rounds = 0;

  beforeAll(async () => {
    t = await startTestServer();
    api = t.client(t.admin);
    mnt = path.join(t.dir, "tmpfs");
    fs.mkdirSync(mnt);
    mounted = tryMount(mnt);
  });

  afterAll(async () => {
    console.log(`disk-full rounds: ${rounds}`);
    // Unmount first (lazily: the server still holds the stores' lock files), then remove the folder.
    if (mounted) execFileSync("umount", ["-l", mnt], { stdio: "ignore" });
    await t.close();
  });

  it(`fails with ERR_NO_SPACE, leaves the store consistent, and the next backup succeeds (${FREE_MIB.length} round(s))`, { timeout: 300_000 }, async (ctx) => {
    if (!mounted) ctx.skip();
    for (const freeMiB of FREE_MIB) await round(freeMiB);
  });

  /** One store per round, so the space check starts from the same point; removed afterwards. */
  async function round(freeMiB: number) {
    const store = `small${rounds}`;
    const storePath = path.join(mnt, store);
    await createDatastore(t.config, store, storePath, { lazyChunkFolders: true });
    const filler = path.join(mnt, "filler");
    const { bavail, bsize } = fs.statfsSync(mnt);
    fs.writeFileSync(filler, Buffer.alloc(Math.max(0, bavail * bsize - freeMiB * 1024 * 1024)));
    // 8 MiB of incompressible chunks; less is free.
    const chunks = Array.from({ length: 32 }, (_, i) => makeChunk(256 * 1024, 500 + rounds * 100 + i));
    const conn = { ...t.conn, auth: t.admin, store, backupType: "host" as const, backupId: "big" };

    let w: BackupWriter | undefined;
    const err = await (async () => {
      w = await BackupWriter.start({ ...conn, backupTime: 1_700_000_000 });
      const idx = await w.createDynamicIndex("data.didx");
      for (const c of chunks) await idx.addChunk(c.digest, c.data.length, c.blob);
      await idx.close();
      await w.finish();
    })().then(
      () => undefined,
      (e: { code?: string; message: string }) => e,
    );
    await w?.abort().catch(() => {});
    expect(err?.code, err?.message).toBe("ERR_NO_SPACE");
    expect(err?.message).toMatch(/no space/i);

    const groupDir = path.join(storePath, "host", "big");
    await waitFor("the failed snapshot to be removed", () => (unfinishedSnapshots(storePath).length === 0 && !(fs.existsSync(groupDir) && fs.readdirSync(groupDir, { withFileTypes: true }).some((e) => e.isDirectory()))) || undefined, 10_000);
    expect(tempFiles(storePath)).toEqual([]);
    expect(badChunkFiles(storePath)).toEqual([]);
    expect(await api.listSnapshots(store)).toEqual([]);

    fs.rmSync(filler);
    const w2 = await BackupWriter.start({ ...conn, backupTime: 1_700_000_100 });
    const idx = await w2.createDynamicIndex("data.didx");
    for (const c of chunks) await idx.addChunk(c.digest, c.data.length, c.blob);
    await idx.close();
    await w2.finish();
    const upid = await api.verify(store, {});
    expect((await api.waitTask(upid)).exitstatus).toBe("OK");
    const want = createHash("sha256").update(Buffer.concat(chunks.map((c) => c.data))).digest("hex");
    expect(await restoreHash({ ...t.conn, auth: t.admin }, "big", 1_700_000_100, "data.didx", store).catch(() => "")).toBe(want);
    fs.rmSync(storePath, { recursive: true, force: true });
    rounds++;
  }
});
