import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import * as f from "../src/format.js";
import { CAT_ENTRY_FIXED_SIZE, CAT_OFF_REF, CAT_TRAILER_SIZE, TRAILER_OFF_MAGIC } from "../src/catalog.js";

describe("format constants", () => {
  it.each([
    ["CXAR_MAGIC", f.CXAR_MAGIC, "cairn archive v1", "46c57850e04950ae"],
    ["MCXAR_MAGIC", f.MCXAR_MAGIC, "cairn metadata archive v1", "eb529a35af1914a7"],
    ["PCXAR_MAGIC", f.PCXAR_MAGIC, "cairn payload archive v1", "21a5992aeb964ffe"],
    ["PAYLOAD_MAGIC", f.PAYLOAD_MAGIC, "cairn payload v1", "ca3df2e65a3b62eb"],
    ["CATALOG_MAGIC", f.CATALOG_MAGIC, "cairn catalog v1", "2abd824744846b79"],
  ] as const)("%s is the first 8 bytes of SHA-256(%j)", (_name, m, label, hex) => {
    expect(m.toString("hex")).toBe(hex);
    expect(m.equals(createHash("sha256").update(label).digest().subarray(0, 8))).toBe(true);
  });

  it("fixed sizes match the README tables", () => {
    expect(f.HEADER_SIZE).toBe(16);
    expect(f.PREFIX_SIZE).toBe(8);
    expect(f.ENTRY_FIXED_SIZE).toBe(f.ENTRY_OFF_PAYLOAD + 8);
    expect(f.ENTRY_FIXED_SIZE).toBe(72);
    expect(f.GOODBYE_BODY_SIZE).toBe(16);
    expect(f.PAYLOAD_HEADER_SIZE).toBe(16);
    expect(CAT_ENTRY_FIXED_SIZE).toBe(CAT_OFF_REF + 8);
    expect(CAT_TRAILER_SIZE).toBe(TRAILER_OFF_MAGIC + 8);
  });

  it("an entry record encodes and decodes every field, little-endian, with 64-bit sizes", () => {
    const meta: f.EntryMeta = {
      mode: f.S_IFREG | 0o4755,
      uid: 4_000_000_000,
      gid: 7,
      mtimeNs: -123_456_789n,
      ctimeNs: 1_700_000_000_123_456_789n,
      ino: 2n ** 63n + 5n,
      dev: 0xfd01n,
      size: 5 * 1024 ** 3,
      rdev: 0n,
      payloadOffset: 2 ** 40,
      flags: f.FLAG_HAS_LINKS,
    };
    const rec = f.encodeEntry("file", meta, Buffer.from("näme"));
    expect(rec[0]).toBe(0xca);
    expect(rec.readUInt32LE(4)).toBe(72 + 5);
    expect(rec.readBigUInt64LE(8 + f.ENTRY_OFF_SIZE)).toBe(5n * 1024n ** 3n);
    const p = f.decodePrefix(rec, 0);
    const e = f.decodeEntryBody(p, rec.subarray(8), 0);
    expect(e.kind).toBe("file");
    expect(e.name.toString()).toBe("näme");
    expect(e.meta).toEqual(meta);
  });
});
