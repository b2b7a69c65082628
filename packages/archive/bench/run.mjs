// Benchmark: encode and restore throughput of the .cxar on a real host tree.
// Corpus: $CAIRN_CORPUS, else /tmp/cairn-corpus/host (built by make-corpus.sh), else built now.
// Prints MB/s (content bytes) and files/s for: encode to a counting sink, restore from a file,
// split encode, and a split re-encode where change detection re-uses every payload.

import { execFileSync } from "node:child_process";
import { createReadStream, existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import {
  bufferReader,
  collectSink,
  encodeArchive,
  extractArchive,
  newEncodeStats,
  newExtractStats,
  openFileSink,
  openMetadataIndex,
  reuseFromPrevious,
} from "../dist/index.js";

function corpusDir() {
  if (process.env.CAIRN_CORPUS) return process.env.CAIRN_CORPUS;
  const host = "/tmp/cairn-corpus/host";
  const log = existsSync("/tmp/corpus.log") ? readFileSync("/tmp/corpus.log", "utf8") : "";
  if (existsSync(host) && /\bdone\b/.test(log)) return host;
  return null;
}

const mb = (n) => (n / 1e6).toFixed(1);
const rate = (n, s) => (n / s / 1e6).toFixed(1);
const now = () => Number(process.hrtime.bigint()) / 1e9;
/** CPU seconds (user + system, all threads incl. libuv's pool) used by this process so far. */
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
/** CPU seconds of each step, by row number (1-based). */
const cpuOf = new Map();

/** A payload sink that counts bytes and satisfies re-use by bookkeeping only, like the client's chunk injection. */
function countingPayloadSink() {
  let pos = 0;
  return {
    position: () => pos,
    write(b) {
      pos += b.length;
    },
    reuse(_prevOffset, length) {
      const at = pos;
      pos += length;
      return at;
    },
  };
}

async function main() {
  let root = corpusDir();
  let built = null;
  if (!root) {
    built = await mkdtemp(join(tmpdir(), "cairn-corpus-"));
    console.log(`building corpus in ${built} ...`);
    execFileSync("bash", ["/work/shared/bench/make-corpus.sh", built], { stdio: "inherit" });
    root = join(built, "host");
  }
  const work = await mkdtemp(join(tmpdir(), "cxar-bench-"));
  const warn = () => {};
  try {
    console.log(`corpus: ${root}  (node ${process.version}, ${cpus().length} cpus: ${cpus()[0]?.model ?? "?"})`);
    const rows = [];

    // warm the page cache so every step sees the same (cached) corpus
    for await (const _ of encodeArchive(root, { onWarning: warn }));

    // 1. encode to a counting sink
    let stats = newEncodeStats();
    let archiveBytes = 0;
    let c = cpu();
    let t = now();
    for await (const piece of encodeArchive(root, { stats, onWarning: warn })) archiveBytes += piece.length;
    let s = now() - t;
    cpuOf.set(1, cpu() - c);
    rows.push(["encode .cxar -> counting sink", s, stats.bytesRead, stats.entries, archiveBytes]);

    // 2. encode to a temp file (input for the restore)
    const archivePath = join(work, "host.cxar");
    const sink = await openFileSink(archivePath);
    const catalog = collectSink();
    stats = newEncodeStats();
    c = cpu();
    t = now();
    for await (const piece of encodeArchive(root, { stats, catalog, onWarning: warn })) await sink.write(piece);
    await sink.close();
    s = now() - t;
    cpuOf.set(2, cpu() - c);
    rows.push(["encode .cxar -> file (+catalog)", s, stats.bytesRead, stats.entries, sink.length]);

    // 3. restore from the file
    const xs = newExtractStats();
    c = cpu();
    t = now();
    await extractArchive(createReadStream(archivePath, { highWaterMark: 1 << 20 }), join(work, "restore"), { stats: xs, onWarning: warn });
    s = now() - t;
    cpuOf.set(3, cpu() - c);
    rows.push(["restore .cxar file -> temp dir", s, xs.bytes, xs.entries, sink.length]);
    await rm(join(work, "restore"), { recursive: true, force: true });
    await rm(archivePath, { force: true });

    // 4. split encode, then a re-encode where every unchanged file is re-used
    const meta1 = collectSink();
    stats = newEncodeStats();
    c = cpu();
    t = now();
    for await (const piece of encodeArchive(root, { stats, payload: countingPayloadSink(), onWarning: warn })) meta1.write(piece);
    s = now() - t;
    cpuOf.set(4, cpu() - c);
    rows.push(["split encode (.mcxar + .pcxar)", s, stats.bytesRead, stats.entries, meta1.length]);
    c = cpu();
    t = now();
    const prev = await openMetadataIndex(bufferReader(meta1.buffer()));
    const indexS = now() - t;
    const indexCpu = cpu() - c;
    stats = newEncodeStats();
    let metaBytes = 0;
    c = cpu();
    t = now();
    for await (const piece of encodeArchive(root, { stats, payload: countingPayloadSink(), reusePayload: reuseFromPrevious(prev), onWarning: warn }))
      metaBytes += piece.length;
    s = now() - t;
    cpuOf.set(5, cpu() - c);
    rows.push([`split re-encode, ${stats.filesReused} files re-used`, s, stats.bytesReused, stats.entries, metaBytes]);

    console.log("");
    console.log("step                                   seconds  cpu s    content MB   MB/s    entries   entries/s  output MB");
    for (const [i, [name, sec, bytes, entries, out]] of rows.entries()) {
      console.log(
        `${name.padEnd(38)} ${sec.toFixed(2).padStart(7)} ${(cpuOf.get(i + 1) ?? 0).toFixed(2).padStart(6)} ${mb(bytes).padStart(12)} ${rate(bytes, sec).padStart(7)} ${String(entries).padStart(10)} ${Math.round(entries / sec)
          .toString()
          .padStart(10)} ${mb(out).padStart(10)}`,
      );
    }
    console.log(`\nprevious-metadata index: ${prev.size} files loaded in ${indexS.toFixed(2)} s (cpu ${indexCpu.toFixed(2)} s); catalog ${mb(catalog.length)} MB`);
    console.log("cpu s: user + system time of all threads of this process (less noisy than seconds on a shared machine)");
  } finally {
    await rm(work, { recursive: true, force: true });
    if (built) await rm(built, { recursive: true, force: true });
  }
}

await main();
