// Entry of a verification worker thread: receives chunk bytes (transferred, not copied), runs
// checkChunk and sends the verdict and the bytes back, so decompression and hashing never block
// the server's event loop.

import { parentPort } from "node:worker_threads";
import { checkChunk, type ChunkCheckRequest } from "./chunk-check.js";

parentPort!.on("message", (msg: { id: number; req: ChunkCheckRequest }) => {
  let result: ReturnType<typeof checkChunk>;
  try {
    result = checkChunk(msg.req);
  } catch (err) {
    result = { ok: false, code: "ERR_INTERNAL", message: (err as Error).message };
  }
  const buf = msg.req.blob.buffer as ArrayBuffer;
  parentPort!.postMessage({ id: msg.id, result, blob: msg.req.blob }, [buf]);
});
