// Benchmark of @cairn/format (single thread): blob encode/decode of 4 MiB chunks for every kind,
// on real binaries (/usr/lib shared objects) and on random data, a comparison of zstd one-shot
// calls with the reused context the package uses, and a 1,000,000-entry dynamic index written
// and read back. Run after `npx tsc -b`: `node bench/run.mjs` (or `pnpm bench`).

import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compress as zstdOneShot } from "zstd-napi";
import { CryptConfig, DynamicIndexReader, DynamicIndexWriter, decodeBlob, encodeBlob } from "../dist/index.js";

const MiB = 1024 * 1024;
const CHUNK = 4 * MiB;
const REAL_LIMIT = 64 * MiB;
const RANDOM_SIZE = 32 * MiB;
const MIN_SECONDS = 0.5;

function realData() {
  const dirs = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib"];
  const parts = [];
  let total = 0;
  for (const dir of dirs) {
    let names;
    try {
      names = readdirSync(dir).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      if (!/\.so(\.|$)/.test(name)) continue;
      const path = join(dir, name);
      try {
        if (!statSync(path).isFile()) continue;
        const buf = readFileSync(path);
        parts.push(buf);
        total += buf.length;
      } catch {
        continue;
      }
      if (total >= REAL_LIMIT) break;
    }
    if (total >= REAL_LIMIT) break;
  }
  return Buffer.concat(parts).subarray(0, REAL_LIMIT);
}

function chunks(buf) {
  const out = [];
  for (let at = 0; at + CHUNK <= buf.length; at += CHUNK) out.push(buf.subarray(at, at + CHUNK));
  return out;
}

/**
 * MB/s of plain bytes for the best pass over all chunks (at least 3 passes and MIN_SECONDS),
 * by wall clock and by CPU time of this process. Best-of because the machine is shared: the
 * least disturbed pass shows what the code can do; CPU time is what it costs when others
 * compete for the cores (a busy machine stretches wall time, not CPU time).
 */
function throughput(items, fn) {
  const bytes = items.reduce((n, c) => n + c.plainSize, 0);
  fn(items[0]); // warm-up
  let bestWall = Number.POSITIVE_INFINITY;
  let bestCpu = Number.POSITIVE_INFINITY;
  let total = 0;
  let passes = 0;
  while (passes < 3 || total < MIN_SECONDS) {
    const cpu0 = process.cpuUsage();
    const start = process.hrtime.bigint();
    for (const item of items) fn(item);
    const wall = Number(process.hrtime.bigint() - start) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    bestWall = Math.min(bestWall, wall);
    bestCpu = Math.min(bestCpu, (cpu.user + cpu.system) / 1e6);
    total += wall;
    passes++;
  }
  return { wall: bytes / 1e6 / bestWall, cpu: bytes / 1e6 / bestCpu };
}

const crypt = new CryptConfig(Buffer.alloc(32, 7));
const kinds = [
  { name: "plain", opts: {} },
  { name: "compressed", opts: { compress: true } },
  { name: "encrypted", opts: { crypt } },
  { name: "encrypted+compressed", opts: { crypt, compress: true } },
];

const targets = {
  "real/compressed/encode": 250,
  "real/compressed/decode": 800,
  "real/encrypted+compressed/encode": 230,
};

const datasets = [
  { name: "real", data: realData() },
  { name: "random", data: randomBytes(RANDOM_SIZE) },
];

console.log(`@cairn/format benchmark — node ${process.version}, ${CHUNK / MiB} MiB chunks, single thread`);
const rows = [];
for (const ds of datasets) {
  const plain = chunks(ds.data);
  for (const kind of kinds) {
    const items = plain.map((c) => ({ plainSize: c.length, data: c }));
    const encode = throughput(items, (it) => encodeBlob(it.data, kind.opts));
    const blobs = plain.map((c) => ({ plainSize: c.length, blob: encodeBlob(c, kind.opts) }));
    const stored = blobs.reduce((n, b) => n + b.blob.length, 0);
    const decode = throughput(blobs, (it) => decodeBlob(it.blob, { crypt }));
    rows.push({ data: ds.name, kind: kind.name, sizeMiB: (ds.data.length / MiB).toFixed(0), ratio: (stored / (plain.length * CHUNK)).toFixed(3), encode, decode });
  }
}

const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);
const fmt = (t) => `${t.wall.toFixed(0)} / ${t.cpu.toFixed(0)}`;
const mark = (key, t) => {
  const target = targets[key];
  if (target === undefined) return "";
  const ok = (v) => (v >= target ? "ok" : "MISSED");
  return ` [${key.split("/").pop()} ≥${target}: wall ${ok(t.wall)}, cpu ${ok(t.cpu)}]`;
};
console.log("");
console.log("MB/s of plain data, best pass: wall clock / per CPU-second of this process");
console.log(`${pad("data", 8)}${pad("kind", 22)}${lpad("MiB", 5)}${lpad("stored/plain", 14)}${lpad("encode", 14)}${lpad("decode", 14)}`);
for (const r of rows) {
  const notes = mark(`${r.data}/${r.kind}/encode`, r.encode) + mark(`${r.data}/${r.kind}/decode`, r.decode);
  console.log(`${pad(r.data, 8)}${pad(r.kind, 22)}${lpad(r.sizeMiB, 5)}${lpad(r.ratio, 14)}${lpad(fmt(r.encode), 14)}${lpad(fmt(r.decode), 14)}${notes}`);
}

// Why the package keeps one compression context: the one-shot API creates one per call, which
// matters most for small chunks. Measured on 4 MiB and on 64 KiB pieces of the real data.
console.log("");
for (const size of [CHUNK, 64 * 1024]) {
  const pieces = [];
  for (let at = 0; at + size <= Math.min(datasets[0].data.length, 16 * MiB); at += size) {
    pieces.push({ plainSize: size, data: datasets[0].data.subarray(at, at + size) });
  }
  const oneShot = throughput(pieces, (it) => zstdOneShot(it.data, { compressionLevel: 1 }));
  const reused = throughput(pieces, (it) => encodeBlob(it.data, { compress: true }));
  console.log(`zstd level 1, ${size / 1024} KiB pieces: zstd-napi compress() ${fmt(oneShot)} MB/s, encodeBlob (own CCtx) ${fmt(reused)} MB/s`);
}

function cpuSeconds(since) {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
}

// Dynamic index of 1,000,000 entries.
const N = 1_000_000;
const dir = mkdtempSync(join(tmpdir(), "cairn-format-bench-"));
try {
  const path = join(dir, "bench.didx");
  const digests = randomBytes(32 * 4096);
  let cpu0 = process.cpuUsage();
  let t = process.hrtime.bigint();
  const w = await DynamicIndexWriter.create(path);
  for (let i = 0; i < N; i++) {
    const at = (i & 4095) * 32;
    await w.add((i + 1) * 4096, digests.subarray(at, at + 32));
  }
  await w.close();
  const writeSec = Number(process.hrtime.bigint() - t) / 1e9;
  const writeCpu = cpuSeconds(cpu0);
  cpu0 = process.cpuUsage();
  t = process.hrtime.bigint();
  const r = await DynamicIndexReader.open(path);
  let check = 0;
  for (let i = 0; i < r.chunkCount; i++) check += r.chunkInfo(i).digest[0];
  const readSec = Number(process.hrtime.bigint() - t) / 1e9;
  const readCpu = cpuSeconds(cpu0);
  t = process.hrtime.bigint();
  let found = 0;
  for (let i = 0; i < 100_000; i++) found += r.chunkFromOffset((i * 40_961) % r.size) ?? 0;
  const searchSec = Number(process.hrtime.bigint() - t) / 1e9;
  const verdict = (wall, cpu) => `wall ${wall.toFixed(3)} s, cpu ${cpu.toFixed(3)} s ${wall < 1 ? "(target <1 s: ok)" : cpu < 1 ? "(target <1 s: ok by CPU time, missed by wall clock)" : "(target <1 s: MISSED)"}`;
  console.log("");
  console.log(`dynamic index, ${N.toLocaleString("en")} entries (${(statSync(path).size / 1e6).toFixed(1)} MB):`);
  console.log(`  write + fsync + rename      ${verdict(writeSec, writeCpu)}`);
  console.log(`  open + csum + read all      ${verdict(readSec, readCpu)}`);
  console.log(`  100,000 chunkFromOffset     ${searchSec.toFixed(3)} s (checksum ${check + found})`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
