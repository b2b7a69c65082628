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
import { badChunkFiles, restoreHash, tempFiles, unfinishedSnapshots } from "./chaos/store-checks.js";
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

describe("a full disk during upload", () => {
  let t: TestServer;
  let api: CairnClient;
  let mnt: string;
  let mounted = false;
  let storePath: string;

  beforeAll(async () => {
    t = await startTestServer();
    api = t.client(t.admin);
    mnt = path.join(t.dir, "tmpfs");
    fs.mkdirSync(mnt);
    mounted = tryMount(mnt);
    if (!mounted) return;
    storePath = path.join(mnt, "store");
    await createDatastore(t.config, "small", storePath, { lazyChunkFolders: true });
  });

  afterAll(async () => {
    await t.close().catch(() => {});
    if (mounted) execFileSync("umount", ["-l", mnt], { stdio: "ignore" });
  });

  it("fails with ERR_NO_SPACE, leaves the store consistent, and the next backup succeeds", async (ctx) => {
    if (!mounted) ctx.skip();
    const filler = path.join(mnt, "filler");
    const { bavail, bsize } = fs.statfsSync(mnt);
    fs.writeFileSync(filler, Buffer.alloc(bavail * bsize - 3 * 1024 * 1024));
    // 8 MiB of incompressible chunks; 3 MiB are free.
    const chunks = Array.from({ length: 32 }, (_, i) => makeChunk(256 * 1024, 500 + i));
    const conn = { ...t.conn, auth: t.admin, store: "small", backupType: "host" as const, backupId: "big" };

    const w = await BackupWriter.start({ ...conn, backupTime: 1_700_000_000 });
    const err = await (async () => {
      const idx = await w.createDynamicIndex("data.didx");
      for (const c of chunks) await idx.addChunk(c.digest, c.data.length, c.blob);
      await idx.close();
      await w.finish();
    })().then(
      () => undefined,
      (e: { code?: string; message: string }) => e,
    );
    await w.abort().catch(() => {});
    expect(err?.code, err?.message).toBe("ERR_NO_SPACE");
    expect(err?.message).toMatch(/no space/i);

    await waitFor("the failed snapshot to be removed", () => (unfinishedSnapshots(storePath).length === 0 && !fs.readdirSync(path.join(storePath, "host", "big"), { withFileTypes: true }).some((e) => e.isDirectory())) || undefined, 10_000);
    expect(tempFiles(storePath)).toEqual([]);
    expect(badChunkFiles(storePath)).toEqual([]);
    expect(await api.listSnapshots("small")).toEqual([]);

    fs.rmSync(filler);
    const w2 = await BackupWriter.start({ ...conn, backupTime: 1_700_000_100 });
    const idx = await w2.createDynamicIndex("data.didx");
    for (const c of chunks) await idx.addChunk(c.digest, c.data.length, c.blob);
    await idx.close();
    await w2.finish();
    const upid = await api.verify("small", {});
    expect((await api.waitTask(upid)).exitstatus).toBe("OK");
    const want = createHash("sha256").update(Buffer.concat(chunks.map((c) => c.data))).digest("hex");
    expect(await restoreHash({ ...t.conn, auth: t.admin }, "big", 1_700_000_100, "data.didx", "small").catch(() => "")).toBe(want);
  });
});
