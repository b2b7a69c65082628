// Stress worker: one role per process (writer, killable writer, gc, maint) against one datastore,
// for a bounded time. Prints one JSON summary line at the end (or progress lines for "kill").

import { createHash, randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { encodeBlob } from "@cairn/format";
import { DataStore, isDatastoreError } from "../../dist/index.js";

const args = JSON.parse(process.argv[2]);
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const deadline = Date.now() + args.durationMs;
const rand = (n) => Math.floor(Math.random() * n);

// Shared pool of deterministic blocks: every writer draws from it, so backups overlap.
function poolBlock(i) {
  const size = 256 + ((i * 7919) % 1792);
  const parts = [];
  for (let k = 0; parts.length * 32 < size; k++) parts.push(createHash("sha256").update(`pool-${i}-${k}`).digest());
  return Buffer.concat(parts).subarray(0, size);
}
const chunkOf = (data) => ({ data, digest: createHash("sha256").update(data).digest(), blob: encodeBlob(data, { compress: false }) });

const expected = (err) => isDatastoreError(err) && ["ERR_LOCKED", "ERR_NOT_FOUND", "ERR_BASE_VANISHED"].includes(err.code);

async function writer(store, summary, slow = false) {
  let last = 0;
  while (Date.now() < deadline) {
    const time = Math.max(Math.floor(Date.now() / 1000), last + 1);
    let w;
    try {
      w = await store.openBackup({ type: "host", id: args.id, time, owner: "stress@pam" });
    } catch (err) {
      if (!expected(err)) throw err;
      summary.lockedRetries++;
      await sleep(20 + rand(50));
      continue;
    }
    last = time;
    try {
      const known = new Set(w.baseIndexDigests("root.pxar.didx") ?? []);
      const list = [];
      const n = 15 + rand(25);
      for (let i = 0; i < n; i++) list.push(i % 6 === 5 ? chunkOf(randomBytes(200 + rand(1500))) : chunkOf(poolBlock(rand(args.poolSize))));
      let end = 0;
      const entries = [];
      for (const c of list) {
        const hex = c.digest.toString("hex");
        if (!(known.has(hex) && w.touchKnownChunk(hex))) await w.insertChunk(hex, c.blob);
        end += c.data.length;
        entries.push({ end, digest: c.digest });
        if (slow) {
          out({ inserting: true });
          await sleep(30);
        }
      }
      if (rand(10) === 0) {
        await w.abort();
        summary.aborted++;
        continue;
      }
      await w.writeDynamicIndex("root.pxar.didx", entries);
      await w.finish();
      summary.backups++;
    } catch (err) {
      if (w.state === "open" || w.state === "broken") await w.abort();
      if (!expected(err)) throw err;
      summary.failed++;
    }
    await sleep(40 + rand(120));
  }
}

async function gc(store, summary) {
  while (Date.now() < deadline) {
    try {
      const st = await store.garbageCollection({ atimeSafetySeconds: 0, graceSeconds: 0, lockTimeoutMs: 1500 });
      summary.runs++;
      summary.removedChunks += st.removedChunks;
      summary.warnings += st.warnings.length;
      if (st.warnings.length) summary.warningText.push(...st.warnings.slice(0, 3));
    } catch (err) {
      if (!isDatastoreError(err, "ERR_LOCKED")) throw err;
      summary.lockedRetries++;
    }
    await sleep(100 + rand(200));
  }
}

async function maint(store, summary) {
  const groups = args.groups.map((id) => ({ type: "host", id }));
  while (Date.now() < deadline) {
    const g = groups[rand(groups.length)];
    const op = rand(3);
    try {
      if (op === 0) {
        const r = await store.prune(g, { keepLast: 4 });
        summary.pruned += r.removed.length;
        summary.pruneWarnings += r.warnings.length;
      } else if (op === 1) {
        const snaps = store.listSnapshots(g).filter((s) => s.finished);
        if (snaps.length > 2) {
          await store.forgetSnapshot(snaps[rand(snaps.length - 1)]);
          summary.forgotten++;
        }
      } else {
        const snaps = store.listSnapshots(g).filter((s) => s.finished).slice(-3);
        const r = await store.verify({ snapshots: snaps });
        summary.verified += r.snapshots.filter((s) => s.outcome === "ok").length;
        for (const s of r.snapshots) if (s.outcome === "failed") summary.verifyFailures.push([s.snapshot, Date.now(), ...s.errors.slice(0, 3)]);
      }
    } catch (err) {
      if (!expected(err)) throw err;
      summary.lockedRetries++;
    }
    await sleep(50 + rand(100));
  }
}

async function main() {
  const store = await DataStore.open(args.root, { lockTimeoutMs: 3000 });
  const summary = {
    role: args.role,
    backups: 0,
    aborted: 0,
    failed: 0,
    lockedRetries: 0,
    runs: 0,
    removedChunks: 0,
    warnings: 0,
    warningText: [],
    pruned: 0,
    pruneWarnings: 0,
    forgotten: 0,
    verified: 0,
    verifyFailures: [],
  };
  if (args.role === "writer") await writer(store, summary);
  else if (args.role === "kill") await writer(store, summary, true);
  else if (args.role === "gc") await gc(store, summary);
  else if (args.role === "maint") await maint(store, summary);
  out({ done: true, summary });
}

main().catch((err) => {
  out({ done: false, error: `${err.code ?? ""} ${err.stack ?? err}` });
  process.exit(1);
});
