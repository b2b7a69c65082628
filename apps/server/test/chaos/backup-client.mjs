// A chaos client (run as a child process, so the test can SIGKILL it): backs up one group in a
// loop until its deadline or stop file, through @cairn/protocol's BackupWriter, re-using the previous
// snapshot's chunks when there is one. Chunks come from a pool shared by all clients, so they
// dedup across groups and runs. One JSON line per event on stdout: "finishing" (the expected
// content hash, before finish), "finished", "restored" (a quarter of the finished snapshots are
// read back at once: reader sessions join the chaos), "failed" (code). Args: one JSON object.

import { createHash } from "node:crypto";
import fs from "node:fs";
import { chunkDigest, encodeBlob } from "@cairn/format";
import { BackupReader, BackupWriter, CairnClient } from "@cairn/protocol";

const opts = JSON.parse(process.argv[2]);
const { conn, backupId, deadline, stopFile, poolSize, chunksPerBackup, chunkSize, pauseMs } = opts;
let seed = opts.seed >>> 0 || 1;

function rand() {
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed / 2 ** 32;
}

function poolChunk(n) {
  const out = Buffer.allocUnsafe(chunkSize);
  let x = (n * 2654435761) >>> 0 || 1;
  for (let i = 0; i < chunkSize; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeUInt32LE(x >>> 0, i);
  }
  return out;
}

const emit = (o) => process.stdout.write(`${JSON.stringify({ backupId, pid: process.pid, ...o })}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The group's newest snapshot time: a restarted client must start after it (no ERR_TIME_ORDER storm). */
async function newestSnapshotTime() {
  const api = new CairnClient(conn);
  try {
    const groups = await api.listGroups("store1");
    return groups.find((g) => g["backup-id"] === backupId)?.["last-backup"] ?? 0;
  } catch {
    return 0;
  } finally {
    await api.close().catch(() => {});
  }
}

async function restoreHash(time) {
  const r = await BackupReader.open({ ...conn, store: "store1", backupType: "host", backupId, backupTime: time });
  try {
    const sha = createHash("sha256");
    for await (const b of r.readArchive("data.didx")) sha.update(b);
    return sha.digest("hex");
  } finally {
    await r.close();
  }
}

let lastTime = await newestSnapshotTime();
let n = 0;
// The test ends the run early (creating stopFile) once enough backups finished.
while (Date.now() < deadline && !fs.existsSync(stopFile)) {
  const time = Math.max(Math.floor(Date.now() / 1000), lastTime + 1);
  lastTime = time;
  // Mostly pool chunks (dedup within and across groups), one unique chunk per backup.
  const parts = [];
  for (let i = 0; i < chunksPerBackup - 1; i++) parts.push(poolChunk(1 + Math.floor(rand() * poolSize)));
  const unique = poolChunk(1_000_000 + Math.floor(rand() * 1e9));
  parts.splice(Math.floor(rand() * parts.length), 0, unique);
  const sha = createHash("sha256");
  for (const p of parts) sha.update(p);
  const hash = sha.digest("hex");
  let w;
  try {
    w = await BackupWriter.start({ ...conn, store: "store1", backupType: "host", backupId, backupTime: time });
    if ((await w.previousBackupTime()) !== null) await w.downloadPrevious("data.didx").catch(() => {});
    const idx = await w.createDynamicIndex("data.didx");
    for (const p of parts) {
      await idx.addChunk(chunkDigest(p), p.length, encodeBlob(p, { compress: rand() < 0.5 }));
      if (pauseMs) await sleep(pauseMs);
    }
    await idx.close();
    emit({ event: "finishing", time, hash, size: parts.length * chunkSize });
    await w.finish();
    emit({ event: "finished", time, hash, n: n++ });
    if (rand() < 0.25) {
      // A restore may fail because the server died or prune removed the snapshot; only a
      // missing or damaged chunk (or different bytes) counts as lost data.
      try {
        emit({ event: "restored", time, ok: (await restoreHash(time)) === hash });
      } catch (err) {
        const msg = String(err.message);
        emit({ event: "restored", time, ok: !/missing from the datastore|digest|crc/i.test(msg), error: `${err.code}: ${msg.slice(0, 200)}` });
      }
    }
  } catch (err) {
    emit({ event: "failed", time, code: err.code ?? "?", message: String(err.message).slice(0, 300) });
    await w?.abort().catch(() => {});
    if (err.code === "ERR_TIME_ORDER" || err.code === "ERR_EXISTS") lastTime = Math.max(lastTime, await newestSnapshotTime());
    // Time-order conflicts after a restart: the next attempt takes a newer time.
    await sleep(100 + Math.floor(rand() * 300));
  }
}
emit({ event: "done" });
process.exit(0);
