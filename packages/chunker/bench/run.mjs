// Benchmark of @cairn/chunker (pnpm bench). One core, figures in MB/s (MB = 10^6 bytes):
//   scan   boundary scan only, random and real data, both algorithms
//   hash   chunkStream + SHA-256 per chunk (what a backup client does), both algorithms
//   dedup  share of a mutated tree's bytes found in chunks of the original, per algorithm and avg
//   image  the same for the corpus's disk image: fixed against content-defined chunking
// Usage: node bench/run.mjs [scan] [hash] [dedup] [image]   (all by default)
// Env: CAIRN_BENCH_MB (data size for scan/hash, default 256), CAIRN_BENCH_REPS (default 3), CAIRN_BENCH_REAL (folder of real
// files, default /usr/lib/x86_64-linux-gnu), CAIRN_CORPUS / CAIRN_CORPUS_MUT (trees for dedup,
// default /tmp/cairn-corpus/host and /tmp/cairn-corpus-mut/host, made with make-corpus.sh into a
// temporary folder when absent), CAIRN_MAKE_CORPUS (path of make-corpus.sh).

import { execFileSync } from "node:child_process";
import { createHash, randomFillSync } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const dist = new URL("../dist/index.js", import.meta.url);
if (!fs.existsSync(fileURLToPath(dist))) {
  console.error("dist/index.js is missing: run `npx tsc -b` (or pnpm build) in packages/chunker first");
  process.exit(1);
}
const { ALGORITHMS, DEFAULT_ALGORITHM, DEFAULT_AVG, chunkStream, createScanner, fixedChunkStream } = await import(
  dist.href
);

const MiB = 1 << 20;
const SIZE = Number(process.env.CAIRN_BENCH_MB ?? 256) * MiB;
const PIECE = MiB; // what a file reader hands the chunker
const REPS = Number(process.env.CAIRN_BENCH_REPS ?? 3);
const SCAN_REPS = REPS + 2; // scans are short; more tries find a quiet moment on a shared machine
const REAL_DIR = process.env.CAIRN_BENCH_REAL ?? "/usr/lib/x86_64-linux-gnu";
const MAKE_CORPUS = process.env.CAIRN_MAKE_CORPUS ?? "/work/shared/bench/make-corpus.sh";

const args = process.argv.slice(2);
const sections = args.length > 0 ? new Set(args) : new Set(["scan", "hash", "dedup", "image"]);
const results = { machine: `${os.cpus()[0]?.model ?? "?"}, ${os.cpus().length} cores, node ${process.version}` };

const mbps = (bytes, ms) => bytes / 1e6 / (ms / 1000);
const fmt = (x) => x.toFixed(0).padStart(6);
const mib = (x) => (x / MiB).toFixed(2);

/** Regular files under root (no symlinks), as paths relative to root, in sorted order. */
function treeFiles(root) {
  const out = [];
  const walk = (rel) => {
    for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const p = rel === "" ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile()) out.push(p);
    }
  };
  walk("");
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function realData(size) {
  const buf = Buffer.allocUnsafe(size);
  let filled = 0;
  for (const rel of treeFiles(REAL_DIR)) {
    if (filled === size) break;
    const fd = fs.openSync(path.join(REAL_DIR, rel), "r");
    try {
      for (;;) {
        const n = fs.readSync(fd, buf, filled, Math.min(size - filled, 8 * MiB), null);
        filled += n;
        if (n === 0 || filled === size) break;
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  return buf.subarray(0, filled);
}

function scanOnce(data, algorithm, avg) {
  const scanner = createScanner({ algorithm, avg });
  let chunks = 0;
  const t0 = performance.now();
  for (let off = 0; off < data.length; off += PIECE) {
    const piece = data.subarray(off, off + PIECE);
    let pos = 0;
    for (;;) {
      const end = scanner.scan(piece, pos);
      if (end < 0) break;
      chunks++;
      pos = end;
    }
  }
  const ms = performance.now() - t0;
  if (scanner.chunkLength > 0) chunks++;
  return { ms, chunks };
}

async function chunkHashOnce(data, make, pieceSize = PIECE) {
  async function* pieces() {
    for (let off = 0; off < data.length; off += pieceSize) yield data.subarray(off, off + pieceSize);
  }
  let chunks = 0;
  const t0 = performance.now();
  for await (const chunk of make(pieces())) {
    createHash("sha256").update(chunk).digest();
    chunks++;
  }
  return { ms: performance.now() - t0, chunks };
}

/** Best of REPS runs (the machine is shared; the best run is the least disturbed). */
async function best(fn, reps = REPS) {
  let top;
  for (let i = 0; i < reps; i++) {
    const r = await fn();
    if (!top || r.ms < top.ms) top = r;
  }
  return top;
}

const datasets = [];
if (sections.has("scan") || sections.has("hash")) {
  const random = Buffer.allocUnsafe(SIZE);
  for (let off = 0; off < SIZE; off += 64 * MiB) randomFillSync(random, off, Math.min(64 * MiB, SIZE - off));
  datasets.push({ name: "random", data: random });
  datasets.push({ name: `real (${REAL_DIR})`, data: realData(SIZE) });
  // Warm-up, so that the first measured algorithm is not charged for compilation.
  for (const algorithm of ALGORITHMS) scanOnce(random.subarray(0, 64 * MiB), algorithm, DEFAULT_AVG);
}

if (sections.has("scan")) {
  console.log(`\nBoundary scan, avg ${mib(DEFAULT_AVG)} MiB, ${PIECE / MiB} MiB pieces, best of ${SCAN_REPS}`);
  console.log("data                                         algorithm    MB/s  chunks  mean MiB");
  results.scan = [];
  for (const { name, data } of datasets) {
    for (const algorithm of ALGORITHMS) {
      const r = await best(() => scanOnce(data, algorithm, DEFAULT_AVG), SCAN_REPS);
      const row = { data: name, algorithm, mbps: mbps(data.length, r.ms), chunks: r.chunks, bytes: data.length };
      results.scan.push(row);
      console.log(
        `${name.padEnd(44)} ${algorithm.padEnd(10)} ${fmt(row.mbps)} ${String(r.chunks).padStart(7)} ${mib(data.length / r.chunks).padStart(9)}`,
      );
    }
  }
}

if (sections.has("hash")) {
  console.log(`\nChunk + SHA-256 per chunk (chunkStream + createHash per chunk), one core, best of ${REPS}`);
  console.log("(1 MiB pieces: nearly every chunk spans pieces and is copied; 16 MiB: most chunks are views)");
  console.log("data                                         chunker    pieces    MB/s  chunks");
  results.hash = [];
  const makers = [
    ...ALGORITHMS.map((algorithm) => [algorithm, (src) => chunkStream(src, { algorithm }), PIECE]),
    [DEFAULT_ALGORITHM, (src) => chunkStream(src, { algorithm: DEFAULT_ALGORITHM }), 16 * MiB],
    ["fixed", (src) => fixedChunkStream(src), PIECE],
  ];
  for (const { name, data } of datasets) {
    for (const [label, make, pieceSize] of makers) {
      const r = await best(() => chunkHashOnce(data, make, pieceSize));
      const row = { data: name, chunker: label, piece: pieceSize, mbps: mbps(data.length, r.ms), chunks: r.chunks };
      results.hash.push(row);
      console.log(
        `${name.padEnd(44)} ${label.padEnd(10)} ${`${pieceSize / MiB} MiB`.padStart(6)} ${fmt(row.mbps)} ${String(r.chunks).padStart(7)}`,
      );
    }
  }
}

// --- dedup -----------------------------------------------------------------------------------

function corpusReady() {
  try {
    return fs.readFileSync("/tmp/corpus.log", "utf8").includes("done");
  } catch {
    return true; // no build log: whatever is there is all there will be
  }
}

async function corpusPaths() {
  const given = process.env.CAIRN_CORPUS || process.env.CAIRN_CORPUS_MUT;
  const orig = process.env.CAIRN_CORPUS ?? "/tmp/cairn-corpus/host";
  const mut = process.env.CAIRN_CORPUS_MUT ?? "/tmp/cairn-corpus-mut/host";
  if (!given && fs.existsSync(orig) && !corpusReady()) {
    console.log("(the corpus is still being built, waiting for /tmp/corpus.log to say done)");
    const until = Date.now() + 30 * 60_000;
    while (!corpusReady() && Date.now() < until) await new Promise((r) => setTimeout(r, 5000));
  }
  if (fs.existsSync(orig) && fs.existsSync(mut)) return { orig, mut };
  if (given) throw new Error(`corpus not found: ${fs.existsSync(orig) ? mut : orig}`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-bench-corpus-"));
  console.log(`(no corpus at ${orig}: building one with ${MAKE_CORPUS} in ${tmp}, this takes minutes)`);
  execFileSync(MAKE_CORPUS, [path.join(tmp, "orig")], { stdio: "inherit" });
  fs.mkdirSync(path.join(tmp, "mut"));
  execFileSync("cp", ["-a", path.join(tmp, "orig/host"), path.join(tmp, "orig/disk.img"), path.join(tmp, "mut/")]);
  execFileSync(MAKE_CORPUS, [path.join(tmp, "mut"), "mutate"], { stdio: "inherit" });
  return { orig: path.join(tmp, "orig/host"), mut: path.join(tmp, "mut/host"), cleanup: tmp };
}

/** A chunker that digests as it goes, so one pass over a tree feeds every configuration. */
function digestingChunker(label, scan) {
  let hash = createHash("sha256");
  let length = 0;
  const chunks = [];
  return {
    label,
    chunks,
    feed(piece) {
      let pos = 0;
      for (;;) {
        const end = scan(piece, pos);
        if (end < 0) {
          hash.update(piece.subarray(pos));
          length += piece.length - pos;
          return;
        }
        hash.update(piece.subarray(pos, end));
        chunks.push({ digest: hash.digest("latin1"), length: length + end - pos });
        hash = createHash("sha256");
        length = 0;
        pos = end;
      }
    },
    finish() {
      if (length > 0) chunks.push({ digest: hash.digest("latin1"), length });
    },
  };
}

function fixedScan(size) {
  let length = 0;
  return (piece, pos) => {
    const end = pos + size - length;
    if (end <= piece.length) {
      length = 0;
      return end;
    }
    length += piece.length - pos;
    return -1;
  };
}

/** Streams the tree like tar: per regular file, in sorted path order, a header then the bytes. */
function streamTree(root, sinks) {
  const buf = Buffer.allocUnsafe(4 * MiB);
  let total = 0;
  for (const rel of treeFiles(root)) {
    const file = path.join(root, rel);
    const size = fs.statSync(file).size;
    const name = Buffer.from(rel);
    const header = Buffer.alloc(4 + name.length + 8);
    header.writeUInt32LE(name.length, 0);
    name.copy(header, 4);
    header.writeBigUInt64LE(BigInt(size), 4 + name.length);
    for (const s of sinks) s.feed(header);
    total += header.length;
    const fd = fs.openSync(file, "r");
    try {
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        const piece = buf.subarray(0, n);
        for (const s of sinks) s.feed(piece);
        total += n;
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  for (const s of sinks) s.finish();
  return total;
}

const corpus = sections.has("dedup") || sections.has("image") ? await corpusPaths() : undefined;

if (sections.has("dedup")) {
  const { orig, mut } = corpus;
  const avgs = [4 * MiB, MiB, 256 * 1024];
  const configs = [];
  for (const avg of avgs) {
    for (const algorithm of ALGORITHMS) configs.push({ label: `${algorithm} ${mib(avg)}`, algorithm, avg });
  }
  configs.push({ label: `fixed ${mib(4 * MiB)}`, fixed: 4 * MiB });
  const make = () =>
    configs.map((c) => {
      if (c.fixed) return digestingChunker(c.label, fixedScan(c.fixed));
      const scanner = createScanner({ algorithm: c.algorithm, avg: c.avg });
      return digestingChunker(c.label, (piece, pos) => scanner.scan(piece, pos));
    });
  console.log(`\nDedup: tree stream of ${mut} against ${orig}`);
  const t0 = performance.now();
  const before = make();
  const origBytes = streamTree(orig, before);
  const after = make();
  const mutBytes = streamTree(mut, after);
  console.log(
    `streams: original ${(origBytes / 1e6).toFixed(0)} MB, mutated ${(mutBytes / 1e6).toFixed(0)} MB; ` +
      `${configs.length} configurations in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
  console.log("chunker         avg MiB  chunks  mean MiB  shared chunks  shared bytes  new bytes MB");
  results.dedup = [];
  for (let i = 0; i < configs.length; i++) {
    const known = new Set(before[i].chunks.map((c) => c.digest));
    let sharedBytes = 0;
    let sharedChunks = 0;
    for (const c of after[i].chunks) {
      if (known.has(c.digest)) {
        sharedBytes += c.length;
        sharedChunks++;
      }
    }
    const n = after[i].chunks.length;
    const row = {
      chunker: configs[i].label.split(" ")[0],
      avg: configs[i].avg ?? configs[i].fixed,
      chunks: n,
      meanChunk: mutBytes / n,
      sharedChunks,
      sharedChunksPct: (100 * sharedChunks) / n,
      sharedBytesPct: (100 * sharedBytes) / mutBytes,
      newBytes: mutBytes - sharedBytes,
    };
    results.dedup.push(row);
    console.log(
      `${row.chunker.padEnd(15)} ${mib(row.avg).padStart(7)} ${String(n).padStart(7)} ${mib(row.meanChunk).padStart(9)} ` +
        `${`${sharedChunks} (${row.sharedChunksPct.toFixed(1)}%)`.padStart(14)} ${`${row.sharedBytesPct.toFixed(2)}%`.padStart(13)} ` +
        `${(row.newBytes / 1e6).toFixed(1).padStart(13)}`,
    );
  }
}

if (sections.has("image")) {
  // The disk image beside each tree (make-corpus.sh mutates 1% of it in place, in 40 regions):
  // what fixed chunking is for.
  const { orig, mut } = corpus;
  const origImg = path.join(path.dirname(orig), "disk.img");
  const mutImg = path.join(path.dirname(mut), "disk.img");
  if (fs.existsSync(origImg) && fs.existsSync(mutImg)) {
    const imgConfigs = [
      { label: "fixed", make: () => fixedScan(4 * MiB) },
      ...ALGORITHMS.map((algorithm) => {
        return { label: algorithm, make: () => {
          const scanner = createScanner({ algorithm });
          return (piece, pos) => scanner.scan(piece, pos);
        } };
      }),
    ];
    const streamImage = (file) => {
      const sinks = imgConfigs.map((c) => digestingChunker(c.label, c.make()));
      const buf = Buffer.allocUnsafe(4 * MiB);
      const fd = fs.openSync(file, "r");
      let total = 0;
      try {
        for (;;) {
          const n = fs.readSync(fd, buf, 0, buf.length, null);
          if (n === 0) break;
          for (const s of sinks) s.feed(buf.subarray(0, n));
          total += n;
        }
      } finally {
        fs.closeSync(fd);
      }
      for (const s of sinks) s.finish();
      return { sinks, total };
    };
    const a = streamImage(origImg);
    const b = streamImage(mutImg);
    console.log(`\nDedup: ${mutImg} against ${origImg}, avg/size 4 MiB`);
    console.log("chunker         chunks  shared chunks  shared bytes  new bytes MB");
    results.dedupImage = [];
    for (let i = 0; i < imgConfigs.length; i++) {
      const known = new Set(a.sinks[i].chunks.map((c) => c.digest));
      let sharedBytes = 0;
      let sharedChunks = 0;
      for (const c of b.sinks[i].chunks) {
        if (known.has(c.digest)) {
          sharedBytes += c.length;
          sharedChunks++;
        }
      }
      const n = b.sinks[i].chunks.length;
      const row = { chunker: imgConfigs[i].label, chunks: n, sharedChunks, sharedBytesPct: (100 * sharedBytes) / b.total };
      results.dedupImage.push(row);
      console.log(
        `${row.chunker.padEnd(15)} ${String(n).padStart(6)} ${`${sharedChunks} (${((100 * sharedChunks) / n).toFixed(1)}%)`.padStart(14)} ` +
          `${`${row.sharedBytesPct.toFixed(2)}%`.padStart(13)} ${((b.total - sharedBytes) / 1e6).toFixed(1).padStart(13)}`,
      );
    }
  }
}
if (corpus?.cleanup) fs.rmSync(corpus.cleanup, { recursive: true, force: true });

console.log(`\ndefault: ${DEFAULT_ALGORITHM}, avg ${mib(DEFAULT_AVG)} MiB; ${results.machine}`);
if (process.env.CAIRN_BENCH_JSON) fs.writeFileSync(process.env.CAIRN_BENCH_JSON, `${JSON.stringify(results, null, 2)}\n`);
