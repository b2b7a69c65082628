// A body from allocBody has free bytes in front of it, so encodeFrame writes the length field
// and JSON header there and returns a frame sharing the body's memory (a server sends chunk
// blobs read into such a buffer without copying them). The frame must decode to the same
// header and body as a copied one, and only an untouched allocBody buffer takes that path.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BODY_HEADROOM, adoptBody, allocBody, decodeFrame, encodeFrame } from "../src/index.js";

describe("frames around a body with headroom", () => {
  it("decode to the same header and body as a copied frame, without copying the body", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 4096 }), fc.jsonValue(), (bytes, result) => {
        const body = allocBody(bytes.length);
        body.set(bytes);
        const header = { id: 7, ok: true, result };
        const copied = encodeFrame(header, Buffer.from(bytes));
        const frame = encodeFrame(header, body);
        expect(frame.equals(copied)).toBe(true);
        const json = Buffer.byteLength(JSON.stringify(header));
        if (4 + json <= BODY_HEADROOM) {
          // shares memory with the body: the frame ends where the body ends
          expect(frame.buffer).toBe(body.buffer);
          expect(frame.byteOffset + frame.length).toBe(body.byteOffset + body.length);
        }
        const d = decodeFrame(frame);
        expect(d.header).toEqual(JSON.parse(JSON.stringify(header)));
        expect(Buffer.from(d.body).equals(Buffer.from(bytes))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("falls back to a copy for a header larger than the headroom, a view of the body, or a second use", () => {
    const body = allocBody(1000).fill(9);
    const big = { id: 1, ok: true, result: { pad: "x".repeat(BODY_HEADROOM) } };
    const f1 = encodeFrame(big, body);
    expect(f1.buffer).not.toBe(body.buffer);
    expect(decodeFrame(f1).body.equals(body)).toBe(true);

    const other = allocBody(100).fill(3);
    const view = other.subarray(10);
    const f2 = encodeFrame({ id: 2, ok: true }, view);
    expect(f2.buffer).not.toBe(other.buffer);
    expect(decodeFrame(f2).body.equals(view)).toBe(true);

    const once = allocBody(10).fill(5);
    expect(encodeFrame({ id: 3 }, once).buffer).toBe(once.buffer);
    // the second frame must not overwrite the first one's header in shared memory
    expect(encodeFrame({ id: 4 }, once).buffer).not.toBe(once.buffer);
  });

  it("adoptBody takes a body with enough free bytes in front (a blob encoded with headroom), and only that", () => {
    const whole = Buffer.alloc(BODY_HEADROOM + 64, 1);
    const body = adoptBody(whole.subarray(BODY_HEADROOM));
    const f = encodeFrame({ id: 5, ok: true }, body);
    expect(f.buffer).toBe(whole.buffer);
    expect(decodeFrame(f).body.equals(Buffer.alloc(64, 1))).toBe(true);
    const tight = adoptBody(Buffer.alloc(BODY_HEADROOM + 64, 2).subarray(BODY_HEADROOM - 1));
    const g = encodeFrame({ id: 6, ok: true }, tight);
    expect(g.buffer).not.toBe(tight.buffer);
    expect(decodeFrame(g).body.equals(tight)).toBe(true);
  });
});
