import { Value } from "@sinclair/typebox/value";
import { describe, expect, it } from "vitest";
import { ArchiveName, BACKUP_OPS, BackupId, READER_OPS, RequestHeaderCheck } from "../src/index.js";

describe("names and session schemas", () => {
  it("refuses names with slash, dot-dot, NUL or too long", () => {
    for (const bad of ["a/b", "..", "a..b", "a\u0000b", "x".repeat(129), "", ".hidden", "-x"]) {
      expect(Value.Check(BackupId, bad)).toBe(false);
    }
    expect(Value.Check(BackupId, "web-01.example_2")).toBe(true);
    expect(Value.Check(ArchiveName, "root.pxar.didx")).toBe(true);
    expect(Value.Check(ArchiveName, "../root.didx")).toBe(false);
    expect(Value.Check(ArchiveName, "root.txt")).toBe(false);
  });

  it("checks request headers and op params", () => {
    expect(RequestHeaderCheck.Check({ id: 1, op: "finish", params: {} })).toBe(true);
    expect(RequestHeaderCheck.Check({ id: -1, op: "finish" })).toBe(false);
    const chunk = BACKUP_OPS.get("dynamic_chunk")!;
    expect(chunk.body).toBe(true);
    expect(chunk.params.Check({ wid: 1, digest: "a".repeat(64), size: 10, "encoded-size": 22 })).toBe(true);
    expect(chunk.params.Check({ wid: 1, digest: "A".repeat(64), size: 10, "encoded-size": 22 })).toBe(false);
    expect(READER_OPS.get("download")!.params.Check({ "file-name": "index.json.blob" })).toBe(true);
    expect([...BACKUP_OPS.keys()].sort()).toEqual(
      [
        "blob", "dynamic_append", "dynamic_chunk", "dynamic_close", "dynamic_index", "finish",
        "fixed_append", "fixed_chunk", "fixed_close", "fixed_index", "previous", "previous_backup_time", "speedtest",
      ].sort(),
    );
  });
});
