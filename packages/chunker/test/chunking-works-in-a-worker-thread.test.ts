import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { type ChunkerAlgorithm, chunkStream, fixedChunkStream } from "../src/index.js";
import { collect, mixedBytes, sizes } from "./helpers.js";

// The worker imports the built package, as a consumer would; the workspace builds (tsc -b)
// before it tests.
const distEntry = new URL("../dist/index.js", import.meta.url);
const workerFile = new URL("./fixtures/chunk-in-worker.mjs", import.meta.url);

function runInWorker(data: Buffer, algorithm: ChunkerAlgorithm, avg: number): Promise<{ lengths: number[]; fixed: number[] }> {
  return new Promise((resolve, reject) => {
    const copy = new Uint8Array(data).buffer;
    const worker = new Worker(fileURLToPath(workerFile), {
      workerData: { distEntry: distEntry.href, data: copy, algorithm, avg, pieceSize: 123_457 },
      transferList: [copy],
    });
    worker.once("message", (m) => {
      resolve(m);
      void worker.terminate();
    });
    worker.once("error", reject);
    worker.once("exit", (code) => {
      if (code !== 0) reject(new Error(`worker exited with code ${code}`));
    });
  });
}

describe("chunking in a worker_threads Worker", () => {
  it.each(["buzhash", "fastcdc"] as const)("%s gives the same chunks as on the main thread", async (algorithm) => {
    if (!existsSync(distEntry)) {
      throw new Error(`${fileURLToPath(distEntry)} is missing: build the package first (npx tsc -b in packages/chunker)`);
    }
    const avg = 64 * 1024;
    const data = mixedBytes(2024, 3 << 20);
    const inWorker = await runInWorker(data, algorithm, avg);
    expect(inWorker.lengths).toEqual(sizes(await collect(chunkStream([data], { algorithm, avg }))));
    expect(inWorker.fixed).toEqual(sizes(await collect(fixedChunkStream([data], { size: 100_000 }))));
    expect(inWorker.lengths.length).toBeGreaterThan(10);
  });
});
