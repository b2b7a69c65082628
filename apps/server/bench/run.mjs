// Benchmark of the backup path over loopback TLS: the server runs as a child process
// (`cairn-server start`), clients use BackupWriter from @cairn/protocol with pre-encoded
// chunks. Prints MB/s for one and four clients, the known-chunk re-backup speed and the
// server's peak RSS (VmHWM). Sizes: BENCH_MB (default 256) of 1 MiB random chunks.

import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { encodeBlob } from "@cairn/format";
import { BackupWriter } from "@cairn/protocol";
import { ConfigDir, createDatastore, createToken, createUser, setAcl } from "../dist/index.js";

const TOTAL_MB = Number(process.env.BENCH_MB ?? 256);
const CHUNK = 1024 * 1024;
const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));

function makeChunks(n) {
  return Array.from({ length: n }, () => {
    const data = randomBytes(CHUNK);
    return { size: data.length, digest: createHash("sha256").update(data).digest(), blob: encodeBlob(data) };
  });
}

function vm(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const get = (k) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0) / 1024;
  return { rss: get("VmRSS"), hwm: get("VmHWM") };
}

async function backup(conn, id, time, chunks, previous = false) {
  const w = await BackupWriter.start({ ...conn, store: "bench", backupType: "host", backupId: id, backupTime: time, maxInFlight: 32 });
  if (previous) await w.downloadPrevious("data.didx");
  const h = await w.createDynamicIndex("data.didx");
  for (const c of chunks) await h.addChunk(c.digest, c.size, c.blob);
  await h.close();
  await w.finish();
  return w.stats;
}

const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "cairn-bench-"));
const config = new ConfigDir(path.join(dir, "config"));
config.ensure();
await createDatastore(config, "bench", path.join(dir, "store"), { lazyChunkFolders: true });
createUser(config, "bench@pbs");
const secret = createToken(config, "bench@pbs!b");
setAcl(config, { path: "/", role: "Admin", authId: "bench@pbs" });
setAcl(config, { path: "/", role: "Admin", authId: "bench@pbs!b" });

const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(" ").filter(Boolean);
const child = spawn(process.execPath, [...nodeArgs, CLI, "start", "--config", config.dir, "--listen", "127.0.0.1:0", "--log-level", "warn"], { stdio: ["ignore", "ignore", "pipe"] });
let err = "";
child.stderr.on("data", (d) => (err += d));
const { url, fingerprint } = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`server did not start: ${err}`)), 60_000);
  child.stderr.on("data", () => {
    const m = /listening on (\S+)\nfingerprint: (\S+)/.exec(err);
    if (m) {
      clearTimeout(timer);
      resolve({ url: m[1], fingerprint: m[2] });
    }
  });
});
const conn = { url, fingerprint, auth: { tokenId: "bench@pbs!b", secret } };

try {
  console.log(`cairn-server upload benchmark: ${os.cpus().length} CPUs (${os.cpus()[0]?.model}), node ${process.version}, ${TOTAL_MB} MiB of 1 MiB random chunks, loopback TLS`);
  const one = makeChunks(TOTAL_MB);
  let t0 = performance.now();
  await backup(conn, "one", 1_700_000_000, one);
  let s = (performance.now() - t0) / 1000;
  console.log(`one client:            ${(TOTAL_MB / s).toFixed(1)} MB/s  (${s.toFixed(2)} s)`);

  t0 = performance.now();
  const st = await backup(conn, "one", 1_700_000_100, one, true);
  s = (performance.now() - t0) / 1000;
  console.log(`known-chunk re-backup: ${(TOTAL_MB / s).toFixed(1)} MB/s  (${s.toFixed(2)} s, ${st.uploadedChunks} uploaded, ${st.knownChunks} known, ${(st.reusedBytes / 2 ** 20).toFixed(0)} MiB reused)`);

  const per = Math.max(1, Math.floor(TOTAL_MB / 4));
  const sets = [0, 1, 2, 3].map(() => makeChunks(per));
  t0 = performance.now();
  await Promise.all(sets.map((c, i) => backup(conn, `four-${i}`, 1_700_000_000, c)));
  s = (performance.now() - t0) / 1000;
  console.log(`four clients:          ${((per * 4) / s).toFixed(1)} MB/s  (${s.toFixed(2)} s, ${per} MiB each)`);
  const mem = vm(child.pid);
  console.log(`server RSS:            peak ${mem.hwm.toFixed(0)} MiB (VmHWM), now ${mem.rss.toFixed(0)} MiB`);
} finally {
  child.kill("SIGTERM");
  await new Promise((r) => child.on("exit", r));
  await fs.promises.rm(dir, { recursive: true, force: true });
}
