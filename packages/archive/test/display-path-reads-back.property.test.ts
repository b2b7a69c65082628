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

  it("escapes C1 controls, separators, bidirectional overrides and invisible characters", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 16 }), fc.constantFrom("\u0085", "\u009b", "\u2028", "\u2029", "\u202e", "\u2066", "\u200b", "\u200f", "\ufeff"), (text, bad) => {
        const raw = Buffer.from(text + bad, "utf8");
        const shown = displayPath(raw);
        expect(shown).not.toMatch(/[\x00-\x1f\x7f-\x9f\u200b\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/);
        expect(parseDisplayPath(shown).equals(raw)).toBe(true);
      }),
      { numRuns: 500 },
    );
    expect(displayPath(Buffer.from("nel\u0085x"))).toBe("nel\\xc2\\x85x");
    expect(displayPath(Buffer.from("invoice\u202efdp.exe"))).toBe("invoice\\xe2\\x80\\xaefdp.exe");
    // joiners that scripts and emoji need stay as they are
    expect(displayPath(Buffer.from("👩\u200d💻"))).toBe("👩\u200d💻");
  });
});
