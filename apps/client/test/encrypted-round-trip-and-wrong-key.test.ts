import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareTrees, makeTree, runCli, startTestServer, type TestServer } from "./helpers.js";

describe("client-side encryption", () => {
  let t: TestServer;
  let src: string;
  let key: string;
  let otherKey: string;
  beforeAll(async () => {
    t = await startTestServer();
    src = path.join(t.dir, "src");
    await makeTree(src, 7);
    key = path.join(t.dir, "key.json");
    otherKey = path.join(t.dir, "other.json");
    const a = await runCli(["key", "create", key, "--kdf", "scrypt", "--output-format", "json"], { ...t.env, CAIRN_KEY_PASSPHRASE: "correct horse" });
    expect(a.stderr).toBe("");
    expect(JSON.parse(a.stdout).kdf).toBe("scrypt");
    const b = await runCli(["key", "create", otherKey, "--kdf", "none"], t.env);
    expect(b.code).toBe(0);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("encrypts chunks, signs the manifest and restores only with the right key", async () => {
    const env = { ...t.env, CAIRN_KEY_PASSPHRASE: "correct horse" };
    const b = await runCli(["backup", `root.cxar:${src}`, "--backup-id", "enc", "--keyfile", key, "--output-format", "json"], env);
    expect(b.stderr).toBe("");
    expect(JSON.parse(b.stdout).encrypted).toBe(true);

    // Nothing readable on the server: the datastore holds no plain copy of a known file.
    const needle = Buffer.from("file 3\nfile 3\nfile 3\n");
    const chunkDir = path.join(t.dir, "store1", ".chunks");
    const found: string[] = [];
    const walk = async (d: string) => {
      for (const e of await fs.promises.readdir(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) await walk(p);
        else if ((await fs.promises.readFile(p)).includes(needle)) found.push(p);
      }
    };
    await walk(chunkDir);
    expect(found).toEqual([]);

    const out = path.join(t.dir, "out-enc");
    const r = await runCli(["restore", "host/enc", "root.cxar", out, "--keyfile", key], env);
    expect(r.stderr).toBe("");
    expect(await compareTrees(src, out)).toEqual([]);

    const noKey = await runCli(["restore", "host/enc", "root.cxar", path.join(t.dir, "x1")], env);
    expect(noKey.code).not.toBe(0);
    expect(noKey.stderr).toMatch(/^cairn: error: ERR_KEY: .*encrypted.*--keyfile/);

    const wrong = await runCli(["restore", "host/enc", "root.cxar", path.join(t.dir, "x2"), "--keyfile", otherKey], env);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/^cairn: error: ERR_WRONG_KEY: /);

    const badPass = await runCli(["restore", "host/enc", "root.cxar", path.join(t.dir, "x3"), "--keyfile", key], { ...env, CAIRN_KEY_PASSPHRASE: "wrong pass" });
    expect(badPass.stderr).toMatch(/^cairn: error: ERR_PASSPHRASE: /);
  });

  it("refuses a tampered manifest", async () => {
    const env = { ...t.env, CAIRN_KEY_PASSPHRASE: "correct horse" };
    const b = await runCli(["backup", `root.cxar:${src}`, "--backup-id", "tamper", "--keyfile", key, "--output-format", "json"], env);
    const snap = JSON.parse(b.stdout).snapshot as string;
    const dir = path.join(t.dir, "store1", ...snap.split("/"));
    const { decodeBlob, encodeBlob } = await import("@cairn/format");
    const file = path.join(dir, "index.json.blob");
    const json = JSON.parse(decodeBlob(await fs.promises.readFile(file)).toString());
    json.files[0].size += 1;
    await fs.promises.writeFile(file, encodeBlob(Buffer.from(JSON.stringify(json)), { compress: true }));
    const r = await runCli(["restore", snap, "root.cxar", path.join(t.dir, "x4"), "--keyfile", key], env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^cairn: error: ERR_WRONG_KEY: manifest signature/);
  });

  it("shows and re-protects a key", async () => {
    const s = await runCli(["key", "show", key, "--output-format", "json"], t.env);
    const info = JSON.parse(s.stdout);
    expect(info.fingerprint).toMatch(/^([0-9a-f]{2}:){7}[0-9a-f]{2}$/);
    const c = await runCli(["key", "change-passphrase", key], { ...t.env, CAIRN_KEY_PASSPHRASE: "correct horse", CAIRN_NEW_KEY_PASSPHRASE: "battery staple" });
    expect(c.stderr).toBe("");
    const s2 = await runCli(["key", "show", key, "--output-format", "json"], t.env);
    expect(JSON.parse(s2.stdout).fingerprint).toBe(info.fingerprint);
    const out = path.join(t.dir, "out-enc2");
    const r = await runCli(["restore", "host/enc", "root.cxar", out, "--keyfile", key], { ...t.env, CAIRN_KEY_PASSPHRASE: "battery staple" });
    expect(r.stderr).toBe("");
    expect(await compareTrees(src, out)).toEqual([]);
  });

  it("key create takes its passphrase from CAIRN_NEW_KEY_PASSPHRASE, which wins over CAIRN_KEY_PASSPHRASE", async () => {
    const k = path.join(t.dir, "new-pass.json");
    const c = await runCli(["key", "create", k], { ...t.env, CAIRN_NEW_KEY_PASSPHRASE: "fresh one", CAIRN_KEY_PASSPHRASE: "not this" });
    expect(c.code, c.stderr).toBe(0);
    const b = await runCli(["backup", `root.cxar:${src}`, "--backup-id", "newpass", "--keyfile", k], { ...t.env, CAIRN_KEY_PASSPHRASE: "fresh one" });
    expect(b.code, b.stderr).toBe(0);
    const wrong = await runCli(["backup", `root.cxar:${src}`, "--backup-id", "newpass", "--keyfile", k], { ...t.env, CAIRN_KEY_PASSPHRASE: "not this" });
    expect(wrong.stderr).toMatch(/^cairn: error: ERR_PASSPHRASE: unable to decrypt key: wrong passphrase/);
  });
});
