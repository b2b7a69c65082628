// A chunk corrupted on disk: verify renames it to `.0.bad` and fails the snapshot, a restore
// fails naming the chunk, and the next backup of the same data uploads it again (a snapshot that
// failed verify is never a base; a base chunk missing on disk is unknown to the session), after
// which verify passes and the data reads back.

import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { BackupWriter, type CairnClient } from "@cairn/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LONG, restoreHash } from "./chaos/store-checks.js";
import { waitFor } from "./daemon.js";
import { type TestChunk, type TestServer, makeChunk, startTestServer } from "./helpers.js";

const ROUNDS = LONG ? 25 : 1;

describe("a corrupt chunk is marked bad and uploaded again", () => {
  let rounds = 0;
  let t: TestServer;
  let api: CairnClient;
  let chunks = [makeChunk(40_000, 11), makeChunk(40_000, 12), makeChunk(40_000, 13), makeChunk(12_345, 14)];
  const hex = (c: TestChunk) => c.digest.toString("hex");
  const chunkFile = (c: TestChunk) => path.join(t.storePath, ".chunks", hex(c).slice(0, 4), hex(c));
  const conn = () => ({ ...t.conn, auth: t.admin });
  const expected = () => createHash("sha256").update(Buffer.concat(chunks.map((c) => c.data))).digest("hex");

  async function backup(id: string, time: number, usePrevious: boolean) {
    const w = await BackupWriter.start({ ...conn(), store: "store1", backupType: "host", backupId: id, backupTime: time });
    try {
      if (usePrevious && (await w.previousBackupTime()) !== null) await w.downloadPrevious("data.didx");
      const idx = await w.createDynamicIndex("data.didx");
      for (const c of chunks) await idx.addChunk(c.digest, c.data.length, c.blob);
      await idx.close();
      await w.finish();
      return w.stats;
    } catch (err) {
      await w.abort().catch(() => {});
      throw err;
    }
  }

  async function verify(id: string) {
    const upid = await api.verify("store1", { "backup-type": "host", "backup-id": id });
    const st = await api.waitTask(upid);
    return { st, log: (await api.taskLog(upid)).map((l) => l.t).join("\n") };
  }

  beforeAll(async () => {
    t = await startTestServer();
    api = t.client(t.admin);
  });
  afterAll(async () => {
    console.log(`corrupt-chunk rounds: ${rounds}`);
    await t.close();
  });

  // Kinds of damage: a flipped payload byte, a truncated file, random bytes, an empty file, a flipped CRC byte.
  const DAMAGE: Array<(raw: Buffer) => Buffer> = [
    (raw) => {
      raw[raw.length - 100] ^= 0xff;
      return raw;
    },
    (raw) => raw.subarray(0, raw.length >> 1),
    (raw) => randomBytes(raw.length),
    () => Buffer.alloc(0),
    (raw) => {
      raw[8] ^= 0x01;
      return raw;
    },
  ];

  it(`verify marks it, restore names it, the next backup re-uploads it, verify passes (${ROUNDS} round(s))`, { timeout: 300_000 }, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      chunks = Array.from({ length: 4 }, (_, i) => makeChunk(i === 3 ? 12_345 : 40_000, 11 + round * 10 + i));
      const id = `web${round}`;
      await backup(id, 1_700_000_000, true);
      const victim = chunks[round % chunks.length];
      fs.writeFileSync(chunkFile(victim), DAMAGE[round % DAMAGE.length](fs.readFileSync(chunkFile(victim))));

      const v1 = await verify(id);
      expect(v1.st.state).toBe("error");
      expect(v1.log).toContain(`corrupt chunk ${hex(victim)}`);
      // each snapshot is named as every listing names it: RFC 3339 time (namespace first, if any)
      expect(v1.log).toMatch(new RegExp(`^host/${id}/2023-11-14T22:13:20Z: failed \\(`, "m"));
      expect(fs.existsSync(chunkFile(victim))).toBe(false);
      expect(fs.existsSync(`${chunkFile(victim)}.0.bad`)).toBe(true);
      const snaps = await api.listSnapshots("store1", { "backup-id": id });
      expect(snaps[0].verification?.state).toBe("failed");

      await expect(restoreHash(conn(), id, 1_700_000_000)).rejects.toThrow(hex(victim));

      // The failed snapshot is no base: everything is uploaded, the lost chunk is stored again.
      const stats = await backup(id, 1_700_000_100, true);
      expect(stats.uploadedChunks).toBe(chunks.length);
      expect(fs.existsSync(chunkFile(victim))).toBe(true);
      const v2 = await api.verify("store1", { "backup-type": "host", "backup-id": id, "backup-time": 1_700_000_100 });
      expect((await api.waitTask(v2)).exitstatus).toBe("OK");
      expect(await restoreHash(conn(), id, 1_700_000_100)).toBe(expected());
      rounds++;
    }
  });

  it("a base chunk missing on disk is unknown to the session, so the backup cannot reference it", async () => {
    chunks = Array.from({ length: 4 }, (_, i) => makeChunk(30_000, 900 + i));
    await backup("db", 1_700_000_000, true);
    const victim = chunks[2];
    // Lost without verify noticing (the base is still "ok"): rename it as verify would.
    fs.renameSync(chunkFile(victim), `${chunkFile(victim)}.0.bad`);
    const err = await backup("db", 1_700_000_100, true).then(
      () => undefined,
      (e: { code?: string; message: string }) => e,
    );
    expect(err?.code).toBe("ERR_CHUNK_UNKNOWN");
    expect(err?.message).toContain(hex(victim));
    // The aborted session's snapshot folder goes when the server sees the connection close.
    await waitFor("aborted snapshot to be removed", async () => ((await api.listSnapshots("store1", { "backup-id": "db" })).length === 1 ? true : undefined), 10_000);

    // A client that uploads what it has (no known-chunk list) succeeds and heals the store.
    const stats = await backup("db", 1_700_000_200, false);
    expect(stats.uploadedChunks).toBe(chunks.length);
    expect(fs.existsSync(chunkFile(victim))).toBe(true);
    expect(await restoreHash(conn(), "db", 1_700_000_200)).toBe(expected());
  });
});
