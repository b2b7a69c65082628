// Worker thread of the chunk pool: hashes a batch of chunks (keyed digest with a key) and, for
// chunks it does not know to be stored already, compresses (and encrypts) them into blobs.
// Chunks arrive as transferred ArrayBuffers and blobs go back the same way, so nothing is copied
// between threads; the known set is fed by the main thread (base snapshot + uploads).

import { parentPort, workerData } from "node:worker_threads";
import { CryptConfig, chunkDigest, decodeBlob, encodeBlob } from "@cairn/format";

export interface EncodeRequest {
  type: "encode";
  id: number;
  chunks: ArrayBuffer[];
}
export interface DecodeRequest {
  type: "decode";
  id: number;
  /** Raw blobs and the digests they must have. */
  blobs: ArrayBuffer[];
  digests: string[];
}
export interface KnownMessage {
  type: "known";
  digests: string[];
}
export interface EncodedChunk {
  digest: string;
  size: number;
  /** null: known chunk, not encoded. */
  blob: ArrayBuffer | null;
}
export type WorkerAnswer =
  | { type: "encoded"; id: number; results: EncodedChunk[] }
  | { type: "decoded"; id: number; data: ArrayBuffer[] }
  | { type: "error"; id: number; code: string; message: string };

const key = (workerData as { key?: Uint8Array } | undefined)?.key;
const crypt = key ? new CryptConfig(Buffer.from(key)) : undefined;
const known = new Set<string>();

/** An ArrayBuffer holding exactly `b`, transferable without taking a shared pool along. */
function own(b: Buffer): ArrayBuffer {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer) return b.buffer;
  const ab = new ArrayBuffer(b.length);
  new Uint8Array(ab).set(b);
  return ab;
}

function encode(req: EncodeRequest): WorkerAnswer {
  const results: EncodedChunk[] = [];
  for (const ab of req.chunks) {
    const data = Buffer.from(ab);
    const digest = chunkDigest(data, crypt).toString("hex");
    if (known.has(digest)) {
      results.push({ digest, size: data.length, blob: null });
      continue;
    }
    known.add(digest);
    results.push({ digest, size: data.length, blob: own(encodeBlob(data, { compress: true, crypt })) });
  }
  return { type: "encoded", id: req.id, results };
}

function decode(req: DecodeRequest): WorkerAnswer {
  const data = req.blobs.map((ab, i) => own(decodeBlob(Buffer.from(ab), { crypt, digest: Buffer.from(req.digests[i], "hex") })));
  return { type: "decoded", id: req.id, data };
}

parentPort!.on("message", (msg: EncodeRequest | DecodeRequest | KnownMessage) => {
  if (msg.type === "known") {
    for (const d of msg.digests) known.add(d);
    return;
  }
  let answer: WorkerAnswer;
  try {
    answer = msg.type === "encode" ? encode(msg) : decode(msg);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    answer = { type: "error", id: msg.id, code: typeof code === "string" ? code : "ERR_INTERNAL", message: (err as Error).message };
  }
  const transfer: ArrayBuffer[] = [];
  if (answer.type === "encoded") for (const r of answer.results) if (r.blob) transfer.push(r.blob);
  if (answer.type === "decoded") transfer.push(...answer.data);
  parentPort!.postMessage(answer, transfer);
});
