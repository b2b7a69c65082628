import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { displayPath, parseDisplayPath } from "../src/index.js";

describe("displayPath and parseDisplayPath", () => {
  it("reads back every name, so no two names share a printed form", () => {
    // names built from the troublesome pieces: backslashes, escape look-alikes, newlines, bytes
    // that are not UTF-8, and ordinary text
    const piece = fc.oneof(fc.constantFrom("\\", "\\x0a", "\\x5c", "x0a", "\n", "\t", "/", "é"), fc.string({ maxLength: 4 }));
    const tricky = fc.tuple(fc.array(piece, { maxLength: 8 }), fc.uint8Array({ maxLength: 4 })).map(([parts, bytes]) => Buffer.concat([Buffer.from(parts.join(""), "utf8"), Buffer.from(bytes)]));
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)), tricky), fc.string({ maxLength: 32 }), (raw, text) => {
        expect(parseDisplayPath(displayPath(raw)).equals(raw)).toBe(true);
        const plain = Buffer.from(text, "utf8");
        expect(parseDisplayPath(displayPath(plain)).equals(plain)).toBe(true);
      }),
      { numRuns: 3000 },
    );
    // the pair that shared a form before
    expect(displayPath(Buffer.from("new\nline"))).toBe("new\\x0aline");
    expect(displayPath(Buffer.from("new\\x0aline"))).toBe("new\\x5cx0aline");
    expect(displayPath(Buffer.from("back\\slash"))).toBe("back\\x5cslash");
  });

  it("never lets a control character through to the screen", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const shown = displayPath(Buffer.from(bytes));
        expect(shown).not.toMatch(/[\x00-\x1f\x7f]/);
      }),
      { numRuns: 2000 },
    );
    expect(displayPath(Buffer.from("new\nline"))).toBe("new\\x0aline");
    expect(displayPath(Buffer.from("tab\there\\"))).toBe("tab\\x09here\\x5c");
    expect(displayPath(Buffer.from("café"))).toBe("café");
  });
});
