import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareTrees, makeTree, runCli, startTestServer, type TestServer } from "./helpers.js";

describe("--change-detection-mode metadata", () => {
  let t: TestServer;
  let src: string;
  beforeAll(async () => {
    t = await startTestServer();
    src = path.join(t.dir, "src");
    await makeTree(src, 3);
    for (let i = 0; i < 200; i++) await fs.promises.writeFile(path.join(src, `sub/small${i}`), `small file ${i}\n`.repeat(i + 1));
  });
  afterAll(async () => {
    await t?.close();
  });

  // Explicit, increasing times: two backups in the same second would be the same snapshot.
  let time = 1_800_000_000;
  const backup = async (extra: string[] = []) => {
    const r = await runCli(["backup", `root.cxar:${src}`, "--backup-id", "meta", "--backup-time", String(time++), "--change-detection-mode", "metadata", "--output-format", "json", ...extra], t.env);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout);
  };

  it("reads only new and changed files, re-uses the rest, and restores the same tree", async () => {
    const first = await backup();
    expect(first.filesRead).toBe(first.archives[0].filesRead);
    expect(first.filesReused).toBe(0);
    expect(first.archives[0].files).toEqual(["root.mcxar.didx", "root.pcxar.didx", "root.ccat.didx"]);

    const second = await backup();
    expect(second.filesRead).toBe(0);
    expect(second.bytesRead).toBe(0);
    expect(second.filesReused).toBe(first.filesRead);
    expect(second.uploadedBytes).toBeLessThan(first.uploadedBytes / 2);

    // Change one file, add one; everything else must come from the previous payload.
    await fs.promises.writeFile(path.join(src, "sub/small7"), "changed content\n");
    await fs.promises.writeFile(path.join(src, "new-file"), "brand new\n".repeat(50));
    const third = await backup();
    expect(third.filesRead).toBe(2);
    expect(third.bytesRead).toBe("changed content\n".length + "brand new\n".length * 50);
    expect(third.filesReused).toBe(first.filesRead - 1);

    const out = path.join(t.dir, "restored");
    const r = await runCli(["restore", "host/meta", "root.cxar", out], t.env);
    expect(r.stderr).toBe("");
    expect(await compareTrees(src, out)).toEqual([]);
  });

  it("re-uses an unchanged image file without reading it", async () => {
    const img = path.join(t.dir, "vm.img");
    await fs.promises.writeFile(img, Buffer.alloc(5 << 20, 3));
    const a = await runCli(["backup", `vm.img:${img}`, "--backup-id", "img", "--backup-time", String(time++), "--change-detection-mode", "metadata", "--output-format", "json"], t.env);
    expect(a.stderr).toBe("");
    expect(JSON.parse(a.stdout).archives[0].imageReused).toBe(false);
    const b = await runCli(["backup", `vm.img:${img}`, "--backup-id", "img", "--backup-time", String(time++), "--change-detection-mode", "metadata", "--output-format", "json"], t.env);
    const s = JSON.parse(b.stdout);
    expect(s.archives[0].imageReused).toBe(true);
    expect(s.uploadedBytes).toBe(0);
    const out = path.join(t.dir, "vm-restored.img");
    expect((await runCli(["restore", "host/img", "vm.img", out], t.env)).code).toBe(0);
    expect((await fs.promises.readFile(out)).equals(await fs.promises.readFile(img))).toBe(true);
  });
});
