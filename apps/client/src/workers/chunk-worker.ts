// Worker thread of the chunk pool: hashes a batch of chunks (keyed digest with a key) and, for
// chunks it does not know to be stored already, compresses (and encrypts) them into blobs.
// Chunks arrive as transferred ArrayBuffers and blobs go back the same way, so nothing is copied
// between threads; the known set is fed by the main thread (base snapshot + uploads).

import fs from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { CryptConfig, chunkDigest, decodeBlob, encodeBlob } from "@cairn/format";
import { GcPacer } from "../gc.js";

/** Every request may carry sent blobs' buffers back from the main thread, to die here. */
interface Garbage {
  garbage?: ArrayBuffer[];
}
export interface EncodeRequest extends Garbage {
  type: "encode";
  id: number;
  chunks: ArrayBuffer[];
}
export interface DecodeRequest extends Garbage {
  type: "decode";
  id: number;
  /** Raw blobs and the digests they must have. */
  blobs: ArrayBuffer[];
  digests: string[];
}
/** Chunks read by the worker itself from a file (images): no bytes cross threads on the way in. */
export interface EncodeFileRequest extends Garbage {
  type: "encode-file";
  id: number;
  path: string;
  /** [offset, length] pairs. */
  ranges: Array<[number, number]>;
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
  /** Where the blob starts in `blob` (the frame headroom in front of it). */
  offset: number;
}
export type WorkerAnswer =
  | { type: "encoded"; id: number; results: EncodedChunk[] }
  | { type: "decoded"; id: number; data: ArrayBuffer[] }
  | { type: "error"; id: number; code: string; message: string };

/**
 * Counts the buffers this thread lets go (chunks it was handed, blobs it made, decoded data, the
 * sent blobs the main thread hands back), not the bytes it hashed: an image chunk is read into
 * one reused buffer, so hashing a known chunk leaves no garbage. Pacing by bytes hashed made each
 * worker run a full collection (about 9 ms) every 12 MiB of an unchanged image: 0.4 s of each
 * worker's 1.4 s on a 1 GiB image. All of it dies within a request, so a scavenge frees it.
 */
const pacer = new GcPacer(12 << 20, { young: true });

const key = (workerData as { key?: Uint8Array } | undefined)?.key;
const level = (workerData as { level?: number } | undefined)?.level;
/** Free bytes in front of each blob (protocol BODY_HEADROOM): the upload frame is written there. */
const headroom = (workerData as { headroom?: number } | undefined)?.headroom ?? 0;
const crypt = key ? new CryptConfig(Buffer.from(key)) : undefined;
const known = new Set<string>();

/** An ArrayBuffer holding exactly `b`, transferable without taking a shared pool along. */
function own(b: Buffer): ArrayBuffer {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer) return b.buffer;
  const ab = new ArrayBuffer(b.length);
  new Uint8Array(ab).set(b);
  return ab;
}

function encodeOne(data: Buffer, results: EncodedChunk[]): void {
  const digest = chunkDigest(data, crypt).toString("hex");
  if (known.has(digest)) {
    results.push({ digest, size: data.length, blob: null, offset: 0 });
    return;
  }
  known.add(digest);
  const encoded = encodeBlob(data, { compress: true, crypt, level, headroom });
  // the whole ArrayBuffer goes back (headroom included), transferred, not copied
  const whole = encoded.byteOffset === headroom && encoded.buffer.byteLength === headroom + encoded.length && encoded.buffer instanceof ArrayBuffer;
  const blob = whole ? (encoded.buffer as ArrayBuffer) : own(encoded);
  pacer.add(blob.byteLength);
  results.push({ digest, size: data.length, blob, offset: whole ? headroom : 0 });
}

const files = new Map<string, number>();
/** Image chunks are read into one reused buffer: only the blob leaves the thread. */
let readBuffer = Buffer.alloc(0);

function encodeFile(req: EncodeFileRequest): WorkerAnswer {
  let fd = files.get(req.path);
  if (fd === undefined) {
    fd = fs.openSync(req.path, "r");
    files.set(req.path, fd);
  }
  const results: EncodedChunk[] = [];
  for (const [offset, length] of req.ranges) {
    if (readBuffer.length < length) readBuffer = Buffer.allocUnsafeSlow(length);
    const data = readBuffer.subarray(0, length);
    let got = 0;
    while (got < length) {
      const n = fs.readSync(fd, data, got, length - got, offset + got);
      if (n === 0) throw Object.assign(new Error(`${req.path} ended at ${offset + got}, expected ${offset + length} bytes (did it shrink?)`), { code: "ERR_SOURCE" });
      got += n;
    }
    encodeOne(data, results);
  }
  return { type: "encoded", id: req.id, results };
}

function encode(req: EncodeRequest): WorkerAnswer {
  const results: EncodedChunk[] = [];
  for (const ab of req.chunks) {
    encodeOne(Buffer.from(ab), results);
  }
  return { type: "encoded", id: req.id, results };
}

function decode(req: DecodeRequest): WorkerAnswer {
  const data = req.blobs.map((ab, i) => own(decodeBlob(Buffer.from(ab), { crypt, digest: Buffer.from(req.digests[i], "hex") })));
  return { type: "decoded", id: req.id, data };
}

parentPort!.on("message", (msg: EncodeRequest | EncodeFileRequest | DecodeRequest | KnownMessage | { type: "close-files" }) => {
  if (msg.type === "known") {
    for (const d of msg.digests) known.add(d);
    return;
  }
  if (msg.type === "close-files") {
    for (const fd of files.values()) fs.closeSync(fd);
    files.clear();
    return;
  }
  if (msg.garbage) pacer.add(msg.garbage.reduce((a, g) => a + g.byteLength, 0));
  let answer: WorkerAnswer;
  try {
    answer = msg.type === "encode" ? encode(msg) : msg.type === "encode-file" ? encodeFile(msg) : decode(msg);
    // the chunks handed in are garbage once hashed (or encoded); encode-file reads into readBuffer
    if (msg.type === "encode") pacer.add(msg.chunks.reduce((a, c) => a + c.byteLength, 0));
    if (msg.type === "decode") pacer.add(msg.blobs.reduce((a, c) => a + c.byteLength, 0) * 2);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    answer = { type: "error", id: msg.id, code: typeof code === "string" ? code : "ERR_INTERNAL", message: (err as Error).message };
  }
  const transfer: ArrayBuffer[] = [];
  if (answer.type === "encoded") for (const r of answer.results) if (r.blob) transfer.push(r.blob);
  if (answer.type === "decoded") transfer.push(...answer.data);
  parentPort!.postMessage(answer, transfer);
});
