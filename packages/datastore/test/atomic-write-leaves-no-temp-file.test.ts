// writeFileAtomic (owner files, notes, .gc-status, blobs of a backup): a write that fails leaves
// neither the target changed nor its `.tmp` behind (a GC on a full disk left a 0-byte
// `.gc-status.tmp` until the next restart).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writeFileAtomic } from "../src/internal/fs-util.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe("writeFileAtomic", () => {
  it("replaces the file whole, and removes its temp file when the rename fails", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-atomic-"));
    dirs.push(dir);
    const file = path.join(dir, "status");
    writeFileAtomic(file, "one\n");
    writeFileAtomic(file, "two\n");
    expect(fs.readFileSync(file, "utf8")).toBe("two\n");
    expect(fs.readdirSync(dir)).toEqual(["status"]);
    // a folder in the way: the rename fails after the temp file was written
    const blocked = path.join(dir, "blocked");
    fs.mkdirSync(path.join(blocked, "inside"), { recursive: true });
    expect(() => writeFileAtomic(blocked, "x")).toThrow();
    expect(fs.existsSync(`${blocked}.tmp`)).toBe(false);
    expect(fs.readdirSync(dir).sort()).toEqual(["blocked", "status"]);
  });
});
