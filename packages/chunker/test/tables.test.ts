import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { BUZHASH_TABLE } from "../src/internal/buzhash-table.js";
import { GEAR_TABLE, GEAR_TABLE_LABEL_PREFIX } from "../src/internal/gear-table.js";

describe("hash tables", () => {
  it("the gear table is derived from SHA-256 of its labels, every entry in [1, 2^31]", () => {
    expect(GEAR_TABLE.length).toBe(256);
    for (let i = 0; i < 256; i++) {
      const digest = createHash("sha256").update(`${GEAR_TABLE_LABEL_PREFIX}${i}`).digest();
      const expected = (digest.readUInt32BE(0) >>> 1) + 1;
      expect(GEAR_TABLE[i] >>> 0).toBe(expected);
      expect(expected).toBeGreaterThanOrEqual(1);
      expect(expected).toBeLessThanOrEqual(2 ** 31);
    }
  });

  it("the buzhash table is PBS's: 256 distinct values with PBS's first and last entries", () => {
    expect(BUZHASH_TABLE.length).toBe(256);
    expect(new Set(BUZHASH_TABLE).size).toBe(256);
    expect(BUZHASH_TABLE[0] >>> 0).toBe(0x458be752);
    expect(BUZHASH_TABLE[255] >>> 0).toBe(0xd95ddf11);
    // Fingerprint of the whole table (little-endian u32s), so no entry can change unnoticed.
    const bytes = Buffer.from(Uint32Array.from(BUZHASH_TABLE, (v) => v >>> 0).buffer);
    expect(createHash("sha256").update(bytes).digest("hex")).toMatchInlineSnapshot(`"5b52080d38287da9d2e278466e3e0db7ec98e5e8b226f50612a56fa012b1f660"`);
  });
});
