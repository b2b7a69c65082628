// `cairn benchmark`: what this machine can do per core, like `proxmox-backup-client benchmark`:
// SHA-256, zstd level 1 compress/decompress (through @cairn/format's blobs), AES-256-GCM and the
// content-defined chunker, each on 32 MiB of semi-compressible data for ~0.5 s. With a repository
// it also measures the TLS upload speed to the server (a backup session's `speedtest`).

import { createCipheriv, createHash, randomBytes } from "node:crypto";
import { chunkStream } from "@cairn/chunker";
import { decodeBlob, encodeBlob } from "@cairn/format";
import { BACKUP_PATH, CLOSE_CODES, resolveEndpoint, SessionClient } from "@cairn/protocol/client";
import type { Connection } from "../connection.js";

export interface BenchResult {
  name: string;
  mbPerSecond: number;
}

function sample(size: number): Buffer {
  // Half random, half repetitive text: zstd has work to do but can still compress.
  const b = Buffer.alloc(size);
  const words = Buffer.from("the quick brown fox jumps over the lazy dog 0123456789 backup chunk index manifest ");
  for (let i = 0; i < size; i += 8192) {
    if ((i / 8192) % 2 === 0) randomBytes(Math.min(8192, size - i)).copy(b, i);
    else for (let j = i; j < Math.min(size, i + 8192); j++) b[j] = words[j % words.length];
  }
  return b;
}

async function measure(name: string, bytesPerRun: number, run: () => unknown | Promise<unknown>, seconds = 0.5): Promise<BenchResult> {
  await run();
  let n = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < seconds) {
    await run();
    n++;
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  }
  return { name, mbPerSecond: Math.round((bytesPerRun * n) / 1e6 / elapsed) };
}

export async function localBenchmark(seconds = 0.5): Promise<BenchResult[]> {
  const data = sample(32 << 20);
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += 4 << 20) chunks.push(data.subarray(i, i + (4 << 20)));
  const blobs = chunks.map((c) => encodeBlob(c, { compress: true }));
  const key = randomBytes(32);
  const iv = randomBytes(16);
  const out: BenchResult[] = [];
  out.push(await measure("sha256", data.length, () => createHash("sha256").update(data).digest(), seconds));
  out.push(await measure("zstd compress (level 1)", data.length, () => {
    for (const c of chunks) encodeBlob(c, { compress: true });
  }, seconds));
  out.push(await measure("zstd decompress", data.length, () => {
    for (const b of blobs) decodeBlob(b);
  }, seconds));
  out.push(
    await measure("aes-256-gcm", data.length, () => {
      const c = createCipheriv("aes-256-gcm", key, iv);
      c.update(data);
      c.final();
    }, seconds),
  );
  out.push(
    await measure("chunker (content-defined)", data.length, async () => {
      for await (const _ of chunkStream([data])) {
        // consume
      }
    }, seconds),
  );
  return out;
}

/**
 * TLS upload speed to a server, as PBS measures it: a backup session for `host/benchmark` with
 * `benchmark=true`, `speedtest` requests of 4 MiB (8 in flight) for `seconds`, then an abort (the
 * server removes the unfinished snapshot; nothing is stored).
 */
export async function uploadBenchmark(conn: Connection, seconds = 3): Promise<BenchResult> {
  const session = await SessionClient.open(
    resolveEndpoint(conn.connect),
    BACKUP_PATH,
    { store: conn.store, ns: conn.ns, "backup-type": "host", "backup-id": "benchmark", "backup-time": Math.floor(Date.now() / 1000), benchmark: "true" },
    8,
  );
  const body = randomBytes(4 << 20);
  let bytes = 0;
  const start = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - start) / 1e9;
  try {
    const inFlight = new Set<Promise<unknown>>();
    while (elapsed() < seconds) {
      const { answer } = await session.enqueue("speedtest", {}, body);
      const p = answer.then(() => {
        bytes += body.length;
        inFlight.delete(p);
      });
      inFlight.add(p);
    }
    await Promise.all(inFlight);
  } finally {
    await session.close(CLOSE_CODES.ABORT, "benchmark done").catch(() => {});
  }
  return { name: "TLS upload to server", mbPerSecond: Math.round(bytes / 1e6 / elapsed()) };
}
