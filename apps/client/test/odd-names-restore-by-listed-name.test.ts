import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, startTestServer, type TestServer } from "./helpers.js";

// `catalog ls` prints a name that is not UTF-8, or holds control characters or backslashes, with
// \xNN escapes, so no two names print alike; `restore --path` and `catalog ls PATH` take that
// printed form back (and plain names as they are).
describe("file names a terminal cannot show", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t?.close();
  });

  it("lists odd names escaped and restores each one by the name the listing shows", async () => {
    const odd = path.join(t.dir, "odd");
    await fs.promises.mkdir(odd);
    const names: Array<[string | Buffer, string]> = [
      ["new\nline", "new\\x0aline"],
      [Buffer.from([0x6c, 0x61, 0x74, 0xe9, 0x2e, 0x74, 0x78, 0x74]), "lat\\xe9.txt"],
      ["tab\there", "tab\\x09here"],
      ["back\\slash", "back\\x5cslash"],
      ["café", "café"],
      // names that look like another name's escaped form: each prints differently
      ["new\\x0aline", "new\\x5cx0aline"],
      ["a\\b\nc", "a\\x5cb\\x0ac"],
      ["a\\x5cb\\x0ac", "a\\x5cx5cb\\x5cx0ac"],
    ];
    for (const [i, [name]] of names.entries()) await fs.promises.writeFile(Buffer.concat([Buffer.from(`${odd}/`), Buffer.from(name)]), `content ${i}\n`);
    // one nanosecond before 1970 lists as 1969, not 1970 (the time is floored, not truncated)
    execFileSync("touch", ["-m", "-d", "@-0.000000001", path.join(odd, "café")]);
    for (const [id, mode] of [["odd-legacy", "legacy"], ["odd-split", "metadata"]]) {
      const b = await runCli(["backup", `root.cxar:${odd}`, "--backup-id", id, "--change-detection-mode", mode], t.env);
      expect(b.code, b.stderr).toBe(0);
      const ls = JSON.parse((await runCli(["catalog", "ls", `host/${id}`, "--output-format", "json"], t.env)).stdout);
      const shown = ls.entries.map((e: { name: string }) => e.name);
      expect([...shown].sort()).toEqual(names.map(([, display]) => display).sort());
      expect(ls.entries.find((e: { name: string }) => e.name === "café").mtime).toBe("1969-12-31T23:59:59.999Z");
      for (const [i, [, display]] of names.entries()) {
        const dest = path.join(t.dir, `${id}-${i}`);
        const r = await runCli(["restore", `host/${id}`, "root.cxar", dest, "--path", display], t.env);
        expect(r.stderr).toBe("");
        expect(await fs.promises.readFile(dest, "utf8")).toBe(`content ${i}\n`);
      }
      // `.` and empty components are skipped, as a shell reads a path
      const dot = JSON.parse((await runCli(["catalog", "ls", `host/${id}`, ".", "--output-format", "json"], t.env)).stdout);
      expect(dot.path).toBe("/");
      expect(dot.entries).toHaveLength(names.length);
      const dest = path.join(t.dir, `${id}-dot`);
      const r = await runCli(["restore", `host/${id}`, "root.cxar", dest, "--path", "././/café/"], t.env);
      expect(r.stderr).toBe("");
      expect(await fs.promises.readFile(dest, "utf8")).toBe(`content 4\n`);
    }
  });
});
