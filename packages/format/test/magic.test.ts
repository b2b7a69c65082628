import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MAGIC_LABELS, MAGICS, type MagicName, magicOf } from "../src/index.js";

function specTable(): Map<string, number[]> {
  const spec = readFileSync("/work/shared/spec/format.md", "utf8");
  const rows = new Map<string, number[]>();
  for (const m of spec.matchAll(/^\| (\w+) \| `([^`]+)` \| ([\d ]+) \|$/gm)) {
    rows.set(m[1], m[3].trim().split(/\s+/).map(Number));
  }
  return rows;
}

describe("magic numbers", () => {
  const names = Object.keys(MAGIC_LABELS) as MagicName[];

  it.each(names)("%s is the first 8 bytes of SHA-256 of its label", (name) => {
    const derived = createHash("sha256").update(MAGIC_LABELS[name]).digest().subarray(0, 8);
    expect(Buffer.from(MAGICS[name]).equals(derived)).toBe(true);
  });

  it.each(names)("%s matches the byte list in the spec", (name) => {
    const table = specTable();
    if (table.size === 0) return; // spec not mounted on this machine
    expect([...MAGICS[name]]).toEqual(table.get(name));
  });

  it("all magics are distinct and recognised by magicOf", () => {
    for (const name of names) expect(magicOf(MAGICS[name])).toBe(name);
    expect(new Set(names.map((n) => MAGICS[n].toString("hex"))).size).toBe(names.length);
    expect(magicOf(Buffer.alloc(8))).toBeUndefined();
    expect(magicOf(Buffer.alloc(3))).toBeUndefined();
  });
});
