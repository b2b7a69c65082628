import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeFrame, encodeFrame, FRAME_LENGTH_SIZE, ProtocolError } from "../src/index.js";

describe("framing", () => {
  it("decode(encode(header, body)) gives the same header and body", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.uint8Array({ maxLength: 512 }), (header, body) => {
        const frame = decodeFrame(encodeFrame(header, body));
        expect(frame.header).toEqual(JSON.parse(JSON.stringify(header)));
        expect(Buffer.compare(frame.body, Buffer.from(body))).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it("random bytes decode to a frame or a typed ERR_BAD_FRAME, never anything else", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          const f = decodeFrame(bytes);
          expect(typeof f.header).toBe("object");
        } catch (err) {
          expect(err).toBeInstanceOf(ProtocolError);
          expect((err as ProtocolError).code).toBe("ERR_BAD_FRAME");
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("refuses a header length that runs past the frame", () => {
    const b = Buffer.alloc(FRAME_LENGTH_SIZE + 2);
    b.writeUInt32LE(100, 0);
    expect(() => decodeFrame(b)).toThrow(/runs past/);
  });

  it("refuses a header that is not an object", () => {
    const json = Buffer.from("[1,2]");
    const b = Buffer.concat([Buffer.alloc(4), json]);
    b.writeUInt32LE(json.length, 0);
    expect(() => decodeFrame(b)).toThrow(/not a JSON object/);
  });
});
