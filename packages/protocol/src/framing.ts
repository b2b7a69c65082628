// Session framing, shared by both ends: one binary WebSocket message =
// `u32 LE header length | UTF-8 JSON header | raw body bytes`. The header is a request
// `{id, op, params}` or an answer `{id, ok, result | error}`; the body carries chunk, blob and
// file bytes so that they never pass through JSON. Decoding only splits and parses; schema checks
// of the header happen in the session code (schemas/session.ts).

import { ProtocolError } from "./errors.js";

export const FRAME_LENGTH_SIZE = 4;
/** Largest JSON header accepted (a digest list of ~14k entries fits). */
export const MAX_HEADER_SIZE = 1 << 20;
/** Largest body: a 16 MiB chunk plus blob header, or a blob file / index download up to 64 MiB. */
export const MAX_BODY_SIZE = 64 * 1024 * 1024;
export const MAX_FRAME_SIZE = FRAME_LENGTH_SIZE + MAX_HEADER_SIZE + MAX_BODY_SIZE;

/** WebSocket close codes used by sessions (4000–4999 is the application range). */
export const CLOSE_CODES = {
  /** Normal end after `finish` (backup) or when the client is done (reader). */
  NORMAL: 1000,
  /** Server shutting down. */
  GOING_AWAY: 1001,
  /** The peer sent something that is not a frame (not binary, short, bad length, bad JSON). */
  BAD_FRAME: 4400,
  /** The client gives up on a backup; the server removes the unfinished snapshot. */
  ABORT: 4499,
  /** The server hit an unexpected error and ended the session. */
  INTERNAL: 4500,
} as const;

export interface Frame {
  header: unknown;
  body: Buffer;
}

/** Bytes `allocBody` keeps free in front of a body: the length field and a typical answer header. */
export const BODY_HEADROOM = 512;
const withHeadroom = new WeakSet<Uint8Array>();

/**
 * A buffer for a frame body of `size` bytes with BODY_HEADROOM free bytes in front of it, so
 * that `encodeFrame` can write the frame around it instead of copying it (a server sends chunk
 * blobs read straight into such a buffer). The body must be passed to encodeFrame as returned
 * (not a view of it) and only once; the frame then shares its memory.
 */
export function allocBody(size: number): Buffer {
  const body = Buffer.allocUnsafeSlow(BODY_HEADROOM + size).subarray(BODY_HEADROOM);
  withHeadroom.add(body);
  return body;
}

/**
 * Marks `body` as having at least BODY_HEADROOM free bytes in front of it in its ArrayBuffer (a
 * blob encoded with that headroom), so `encodeFrame` builds the frame around it as for
 * `allocBody`. A body without that much room is left as it is (encodeFrame copies it).
 */
export function adoptBody(body: Buffer): Buffer {
  if (body.byteOffset >= BODY_HEADROOM) withHeadroom.add(body);
  return body;
}

export function encodeFrame(header: unknown, body?: Uint8Array): Buffer {
  const json = Buffer.from(JSON.stringify(header), "utf8");
  if (json.length > MAX_HEADER_SIZE) {
    throw new ProtocolError("ERR_BAD_FRAME", `frame header of ${json.length} bytes exceeds ${MAX_HEADER_SIZE}`);
  }
  const bodyLen = body?.length ?? 0;
  if (bodyLen > MAX_BODY_SIZE) {
    throw new ProtocolError("ERR_BAD_FRAME", `frame body of ${bodyLen} bytes exceeds ${MAX_BODY_SIZE}`);
  }
  if (body && withHeadroom.delete(body) && FRAME_LENGTH_SIZE + json.length <= body.byteOffset) {
    // the frame is written in front of the body, in the same memory: no copy of the body
    const start = body.byteOffset - FRAME_LENGTH_SIZE - json.length;
    const out = Buffer.from(body.buffer, start, FRAME_LENGTH_SIZE + json.length + bodyLen);
    out.writeUInt32LE(json.length, 0);
    json.copy(out, FRAME_LENGTH_SIZE);
    return out;
  }
  const out = Buffer.allocUnsafe(FRAME_LENGTH_SIZE + json.length + bodyLen);
  out.writeUInt32LE(json.length, 0);
  json.copy(out, FRAME_LENGTH_SIZE);
  if (body && bodyLen > 0) out.set(body, FRAME_LENGTH_SIZE + json.length);
  return out;
}

/** Splits a frame; throws ProtocolError ERR_BAD_FRAME for anything that is not one. */
export function decodeFrame(data: Uint8Array): Frame {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length);
  if (buf.length < FRAME_LENGTH_SIZE) {
    throw new ProtocolError("ERR_BAD_FRAME", `frame of ${buf.length} bytes is shorter than its length field`);
  }
  const headerLen = buf.readUInt32LE(0);
  if (headerLen > MAX_HEADER_SIZE) {
    throw new ProtocolError("ERR_BAD_FRAME", `frame header length ${headerLen} exceeds ${MAX_HEADER_SIZE}`);
  }
  if (FRAME_LENGTH_SIZE + headerLen > buf.length) {
    throw new ProtocolError("ERR_BAD_FRAME", `frame header length ${headerLen} runs past the frame end (${buf.length} bytes)`);
  }
  const body = buf.subarray(FRAME_LENGTH_SIZE + headerLen);
  if (body.length > MAX_BODY_SIZE) {
    throw new ProtocolError("ERR_BAD_FRAME", `frame body of ${body.length} bytes exceeds ${MAX_BODY_SIZE}`);
  }
  let header: unknown;
  try {
    header = JSON.parse(buf.toString("utf8", FRAME_LENGTH_SIZE, FRAME_LENGTH_SIZE + headerLen));
  } catch {
    throw new ProtocolError("ERR_BAD_FRAME", "frame header is not valid JSON");
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw new ProtocolError("ERR_BAD_FRAME", "frame header is not a JSON object");
  }
  return { header, body };
}
