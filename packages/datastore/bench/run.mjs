// Datastore benchmark: chunk insert rate (new and existing chunks) and GC mark+sweep time over
// 100,000 chunks / 1,000 indexes and 200,000 / 2,000 (to show linear growth). Small blobs
// (1–4 KiB) so that it measures metadata work. Usage: node bench/run.mjs [--dir /path] [--quick]
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { encodeBlob } from "@cairn/format";
import { DataStore } from "../dist/index.js";

const argv = process.argv.slice(2);
const baseDir = argv.includes("--dir") ? argv[argv.indexOf("--dir") + 1] : os.tmpdir();
const quick = argv.includes("--quick");
const scale = quick ? 0.1 : 1;

function makeChunks(n) {
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const data = randomBytes(1024 + (i % 3072));
    out[i] = { digest: createHash("sha256").update(data).digest("hex"), blob: encodeBlob(data), size: data.length };
  }
  return out;
}

async function pool(items, width, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i], i);
      }
    }),
  );
}

const rm = (d) => spawnSync("rm", ["-rf", d]);
const results = {};

async function benchInsert() {
  const dir = fs.mkdtempSync(path.join(baseDir, "cairn-bench-"));
  try {
    let t = performance.now();
    const store = await DataStore.create(dir);
    results.createSeconds = (performance.now() - t) / 1000;
    const n = Math.round(20_000 * scale);
    const list = makeChunks(n);
    t = performance.now();
    await pool(list, 8, (c) => store.insertChunk(c.digest, c.blob));
    const newSecs = (performance.now() - t) / 1000;
    t = performance.now();
    await pool(list, 8, (c) => store.insertChunk(c.digest, c.blob));
    const existingSecs = (performance.now() - t) / 1000;
    results.insertNewPerSecond = Math.round(n / newSecs);
    results.insertExistingPerSecond = Math.round(n / existingSecs);
  } finally {
    rm(dir);
  }
}

async function benchGc(chunkCount, indexCount) {
  const dir = fs.mkdtempSync(path.join(baseDir, "cairn-bench-"));
  try {
    const store = await DataStore.create(dir);
    const list = makeChunks(chunkCount);
    await pool(list, 8, (c) => store.insertChunk(c.digest, c.blob));
    // 80 % of the chunks are referenced, each index holds chunkCount*0.8/indexCount of them
    // plus 20 shared ones; the other 20 % are aged garbage.
    const referenced = Math.floor(chunkCount * 0.8);
    const per = Math.floor(referenced / indexCount);
    const shared = list.slice(0, 20);
    for (let i = 0; i < indexCount; i++) {
      const w = await store.openBackup({ type: "host", id: `h${i % 50}`, time: 1_700_000_000 + i, owner: "bench@pam" });
      let end = 0;
      const entries = [...shared, ...list.slice(i * per, (i + 1) * per)].map((c) => {
        end += c.size;
        return { end, digest: Buffer.from(c.digest, "hex") };
      });
      await w.writeDynamicIndex("root.pxar.didx", entries);
      await w.finish();
    }
    const old = Date.now() / 1000 - 2 * 86400;
    for (const c of list) {
      const p = store.layout.chunkPath(c.digest);
      fs.utimesSync(p, old, old);
    }
    const t = performance.now();
    let markEnd = 0;
    const st = await store.garbageCollection({
      onProgress: (p) => {
        if (p.phase === "sweep" && !markEnd) markEnd = performance.now();
      },
    });
    const total = (performance.now() - t) / 1000;
    return {
      chunks: chunkCount,
      indexes: indexCount,
      seconds: Number(total.toFixed(2)),
      markSeconds: Number(((markEnd - t) / 1000).toFixed(2)),
      sweepSeconds: Number(((performance.now() - markEnd) / 1000).toFixed(2)),
      removed: st.removedChunks,
      kept: st.diskChunks,
    };
  } finally {
    rm(dir);
  }
}

const t0 = performance.now();
await benchInsert();
results.gc = [];
results.gc.push(await benchGc(Math.round(100_000 * scale), Math.round(1000 * scale)));
results.gc.push(await benchGc(Math.round(200_000 * scale), Math.round(2000 * scale)));
results.totalSeconds = Number(((performance.now() - t0) / 1000).toFixed(1));
results.dir = baseDir;
results.machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, load ${os.loadavg().map((x) => x.toFixed(1)).join("/")}`;

console.log(`datastore benchmark (${baseDir})`);
console.log(`  create (65536 chunk folders)   ${results.createSeconds.toFixed(2)} s`);
console.log(`  insert new chunks              ${results.insertNewPerSecond} chunks/s`);
console.log(`  insert existing chunks         ${results.insertExistingPerSecond} chunks/s`);
for (const g of results.gc) {
  console.log(
    `  GC ${String(g.chunks).padStart(7)} chunks / ${String(g.indexes).padStart(5)} indexes: ${g.seconds} s (mark ${g.markSeconds} s, sweep ${g.sweepSeconds} s; removed ${g.removed}, kept ${g.kept})`,
  );
}
console.log(JSON.stringify(results));
