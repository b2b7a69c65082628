import { createCipheriv, scryptSync } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CryptConfig, KeyConfig } from "../src/index.js";
import { expectCodeAsync, tempDir } from "./helpers.js";

const key = Buffer.alloc(32, 0x5a);
const crypt = new CryptConfig(key);

describe("key files", () => {
  it("scrypt key file has PBS's fields and encodings, and decrypts with its passphrase", async () => {
    const salt = Buffer.alloc(32, 1);
    const iv = Buffer.alloc(16, 2);
    const cfg = await KeyConfig.create(key, "correct horse", { now: 1_700_000_000, hint: "the horse", testSalt: salt, testIv: iv });
    const json = JSON.parse(cfg.serialize());
    expect(json.kdf).toEqual({ Scrypt: { n: 65536, r: 8, p: 1, salt: salt.toString("base64") } });
    expect(json.created).toBe("2023-11-14T22:13:20Z");
    expect(json.modified).toBe(json.created);
    expect(json.fingerprint).toBe(crypt.fingerprintFull());
    expect(json.hint).toBe("the horse");
    // data = iv | tag | AES-256-GCM(scrypt(passphrase), key)
    const derived = scryptSync("correct horse", salt, 32, { N: 65536, r: 8, p: 1, maxmem: 256 * 1024 * 1024 });
    const c = createCipheriv("aes-256-gcm", derived, iv);
    const enc = Buffer.concat([c.update(key), c.final()]);
    expect(Buffer.from(json.data, "base64").equals(Buffer.concat([iv, c.getAuthTag(), enc]))).toBe(true);
    const back = KeyConfig.parse(cfg.serialize());
    expect((await back.decrypt("correct horse")).equals(key)).toBe(true);
    expect((await back.open("correct horse")).fingerprintString()).toBe(crypt.fingerprintString());
  });

  it("a wrong passphrase is ERR_PASSPHRASE, never a garbage key", async () => {
    const cfg = await KeyConfig.create(key, "secret1", { kdf: "pbkdf2" });
    await expectCodeAsync(cfg.decrypt("secret2"), "ERR_PASSPHRASE");
    await expectCodeAsync(cfg.decrypt(), "ERR_PASSPHRASE");
  });

  it("PBKDF2 variant uses 65535 iterations and round-trips", async () => {
    const cfg = await KeyConfig.create(key, "pbkdf2 pass", { kdf: "pbkdf2" });
    const json = JSON.parse(cfg.serialize());
    expect(json.kdf.PBKDF2.iter).toBe(65535);
    expect(Buffer.from(json.kdf.PBKDF2.salt, "base64").length).toBe(32);
    expect((await KeyConfig.parse(cfg.serialize()).decrypt("pbkdf2 pass")).equals(key)).toBe(true);
  });

  it("a key without kdf stores the key bare and needs no passphrase", async () => {
    const cfg = await KeyConfig.create(key, undefined, { kdf: "none" });
    const json = JSON.parse(cfg.serialize());
    expect(json.kdf).toBeNull();
    expect(Buffer.from(json.data, "base64").equals(key)).toBe(true);
    expect((await KeyConfig.parse(cfg.serialize()).decrypt()).equals(key)).toBe(true);
  });

  it("passphrases shorter than 5 bytes are refused", async () => {
    await expectCodeAsync(KeyConfig.create(key, "abcd", { kdf: "pbkdf2" }), "ERR_PASSPHRASE_TOO_SHORT");
    await expectCodeAsync(KeyConfig.create(key, undefined), "ERR_PASSPHRASE_TOO_SHORT");
  });

  it("changing the passphrase keeps key, fingerprint and created time", async () => {
    const cfg = await KeyConfig.create(key, "old pass", { kdf: "pbkdf2", now: 1000 });
    const next = await cfg.changePassphrase("old pass", "new pass", { now: 2000 });
    expect(next.created).toBe(1000);
    expect(next.modified).toBe(2000);
    expect(next.kdf?.kind).toBe("pbkdf2");
    expect((await next.decrypt("new pass")).equals(key)).toBe(true);
    await expectCodeAsync(next.decrypt("old pass"), "ERR_PASSPHRASE");
    await expectCodeAsync(cfg.changePassphrase("wrong pass", "x y z w v"), "ERR_PASSPHRASE");
  });

  it("a fingerprint that does not match the key inside is ERR_KEY_FINGERPRINT", async () => {
    const cfg = await KeyConfig.create(key, undefined, { kdf: "none" });
    cfg.fingerprint = new CryptConfig(Buffer.alloc(32, 1)).fingerprint();
    await expectCodeAsync(cfg.decrypt(), "ERR_KEY_FINGERPRINT");
  });

  it("malformed key files are ERR_KEY_FILE", async () => {
    const good = JSON.parse((await KeyConfig.create(key, undefined, { kdf: "none" })).serialize());
    const bad = [
      "not json",
      "[]",
      JSON.stringify({ ...good, data: "***" }),
      JSON.stringify({ ...good, created: "yesterday" }),
      JSON.stringify({ ...good, kdf: { Argon2: {} } }),
      JSON.stringify({ ...good, kdf: { Scrypt: { n: 1 << 30, r: 8, p: 1, salt: "" } } }),
      JSON.stringify({ ...good, kdf: { Scrypt: { n: 1000, r: 8, p: 1, salt: "" } } }),
      JSON.stringify({ ...good, fingerprint: "ab:cd" }),
    ];
    for (const text of bad) {
      await expectCodeAsync(Promise.resolve().then(() => KeyConfig.parse(text)), "ERR_KEY_FILE");
    }
    await expectCodeAsync(KeyConfig.parse(JSON.stringify({ ...good, data: "AAAA" })).decrypt(), "ERR_KEY_FILE");
  });

  it("accepts epoch numbers and offset RFC 3339 times written by other tools", () => {
    const cfg = KeyConfig.parse(JSON.stringify({ kdf: null, created: 5, modified: "2020-07-08T10:39:38+02:00", data: key.toString("base64") }));
    expect(cfg.created).toBe(5);
    expect(cfg.modified).toBe(1594197578);
  });

  it("save writes the key file atomically with mode 0600", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, "key.json");
      const cfg = await KeyConfig.create(key, "save pass", { kdf: "pbkdf2" });
      await cfg.save(path);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      const loaded = await KeyConfig.load(path);
      expect(loaded.serialize()).toBe(await readFile(path, "utf8"));
      expect((await loaded.decrypt("save pass")).equals(key)).toBe(true);
    } finally {
      await cleanup();
    }
  });
});
