import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { displayPath, parseDisplayPath } from "../src/index.js";

describe("displayPath and parseDisplayPath", () => {
  it("reads back every name that is escaped, and every UTF-8 name without a backslash", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.string({ maxLength: 32 }), (bytes, text) => {
        const raw = Buffer.from(bytes);
        const shown = displayPath(raw);
        if (shown !== raw.toString("utf8") || !raw.includes(0x5c)) expect(parseDisplayPath(shown).equals(raw)).toBe(true);
        const plain = Buffer.from(text.replaceAll("\\", ""), "utf8");
        expect(parseDisplayPath(displayPath(plain)).equals(plain)).toBe(true);
      }),
      { numRuns: 2000 },
    );
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
