// pnpm bench (after `npx tsc -b`): the client's local figures — what `cairn benchmark` prints —
// SHA-256, zstd level 1 compress/decompress, AES-256-GCM and the content-defined chunker, MB/s on
// one core of this machine, plus the worker pool's end-to-end hash+compress throughput.
import os from "node:os";
import { ChunkPool, localBenchmark } from "../dist/index.js";

const rows = await localBenchmark(1);
const data = Buffer.alloc(256 << 20);
for (let i = 0; i < data.length; i += 4096) data.write(`block ${i} of the pool benchmark, half text half noise `, i);
for (let i = 0; i < data.length; i += 8192) data.fill(i & 0xff, i + 2048, i + 4096);
const pool = new ChunkPool({});
const chunks = [];
for (let i = 0; i < data.length; i += 4 << 20) chunks.push(data.subarray(i, i + (4 << 20)));
const t0 = process.hrtime.bigint();
let n = 0;
for await (const r of pool.encode(chunks)) n += r.size;
const s = Number(process.hrtime.bigint() - t0) / 1e9;
await pool.close();
rows.push({ name: `worker pool hash+compress (${pool.size} workers)`, mbPerSecond: Math.round(n / 1e6 / s) });
console.log(`cairn client benchmark — ${os.cpus()[0]?.model ?? "cpu"}, ${os.availableParallelism()} cores, node ${process.version}, load ${os.loadavg()[0].toFixed(2)}`);
for (const r of rows) console.log(`${r.name.padEnd(42)} ${String(r.mbPerSecond).padStart(6)} MB/s`);
