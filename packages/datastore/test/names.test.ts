import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  Layout,
  formatBackupTime,
  parseBackupTime,
  parseNamespace,
  validateArchiveName,
  validateBackupId,
  validateBackupType,
  validateDigest,
} from "../src/index.js";

const code = (fn: () => unknown) => {
  try {
    fn();
    return "none";
  } catch (err) {
    return (err as { code?: string }).code;
  }
};

describe("names are validated before any path is built", () => {
  it("refuses bad backup ids with ERR_BAD_NAME", () => {
    for (const bad of ["", "..", ".", "a/b", "a\0b", "../x", "a..b", ".hidden", "-x", "x".repeat(129), "a b", "ä"]) {
      expect(code(() => validateBackupId(bad)), bad).toBe("ERR_BAD_NAME");
    }
    for (const good of ["100", "web-1", "host_a.example", "_x", "A9"]) expect(validateBackupId(good)).toBe(good);
  });

  it("accepts only vm, ct and host as types", () => {
    expect(validateBackupType("vm")).toBe("vm");
    expect(code(() => validateBackupType("VM"))).toBe("ERR_BAD_NAME");
    expect(code(() => validateBackupType("ns"))).toBe("ERR_BAD_NAME");
  });

  it("archive names need a known extension and may not be the manifest", () => {
    expect(validateArchiveName("root.pxar.didx")).toBe("root.pxar.didx");
    expect(validateArchiveName("drive-scsi0.img.fidx")).toBe("drive-scsi0.img.fidx");
    for (const bad of ["index.json.blob", "x.txt", "../a.blob", "a/b.didx", ".didx", "a.didx.tmp"]) {
      expect(code(() => validateArchiveName(bad)), bad).toBe("ERR_BAD_NAME");
    }
  });

  it("namespaces nest at most 7 deep", () => {
    expect(parseNamespace("a/b/c")).toEqual(["a", "b", "c"]);
    expect(parseNamespace("")).toEqual([]);
    expect(code(() => parseNamespace("1/2/3/4/5/6/7/8"))).toBe("ERR_BAD_NAME");
    expect(parseNamespace("1/2/3/4/5/6/7")).toHaveLength(7);
    for (const bad of ["a//b", "/a", "a/", "a/../b", "x".repeat(33)]) expect(code(() => parseNamespace(bad)), bad).toBe("ERR_BAD_NAME");
  });

  it("digests are 64 lowercase hex digits", () => {
    expect(validateDigest("a".repeat(64))).toBe("a".repeat(64));
    expect(code(() => validateDigest("A".repeat(64)))).toBe("ERR_BAD_NAME");
    expect(code(() => validateDigest("a".repeat(63)))).toBe("ERR_BAD_NAME");
  });

  it("backup times are RFC 3339 UTC folder names that round-trip", () => {
    expect(formatBackupTime(0)).toBe("1970-01-01T00:00:00Z");
    expect(parseBackupTime("2026-11-22T15:04:05Z")).toBe(Date.UTC(2026, 10, 22, 15, 4, 5) / 1000);
    for (const bad of ["2026-11-22T15:04:05.000Z", "2026-11-22 15:04:05Z", "2026-02-30T00:00:00Z", "2026-11-22T15:04:05+01:00"]) {
      expect(code(() => parseBackupTime(bad)), bad).toBe("ERR_BAD_NAME");
    }
    expect(code(() => formatBackupTime(1.5))).toBe("ERR_BAD_NAME");
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 253402300799 }), (t) => parseBackupTime(formatBackupTime(t)) === t),
    );
  });

  it("property: any accepted id or namespace yields a path inside the datastore", () => {
    const layout = new Layout("/store");
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }), (id, ns) => {
        let p: string | undefined;
        try {
          p = layout.groupPath({ ns, type: "vm", id });
        } catch (err) {
          return (err as { code?: string }).code === "ERR_BAD_NAME";
        }
        return p.startsWith("/store/") && !p.includes("/../") && !p.includes("\0");
      }),
    );
  });
});
