// Golden fixtures: bytes written once by test/fixtures/make-fixtures.mjs with fixed inputs. The
// test decodes each file to the content written down in expected.json and re-encodes it from
// the same inputs, requiring identical bytes, so any drift of the on-disk format shows up here.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  blobKind,
  CryptConfig,
  chunkDigest,
  DynamicIndexReader,
  decodeBlob,
  encodeBlob,
  encodeDynamicIndex,
  encodeFixedIndex,
  FixedIndexReader,
  KeyConfig,
  Manifest,
} from "../src/index.js";

const dir = join(dirname(fileURLToPath(import.meta.url)), "fixtures");
const expected = JSON.parse(readFileSync(join(dir, "expected.json"), "utf8"));
const read = (name: string) => readFileSync(join(dir, name));
const key = Buffer.from(expected.key, "hex");
const iv = Buffer.from(expected.iv, "hex");
const crypt = new CryptConfig(key);
const text = Buffer.from(expected.payloadText, "utf8");

describe("golden fixtures", () => {
  it("every fixture file has the recorded size and SHA-256", () => {
    for (const [name, info] of Object.entries<{ fileSize: number; sha256: string }>(expected.files)) {
      const bytes = read(name);
      expect(bytes.length, name).toBe(info.fileSize);
      expect(createHash("sha256").update(bytes).digest("hex"), name).toBe(info.sha256);
    }
  });

  it("the fixture key has the recorded fingerprint and digests", () => {
    expect(crypt.fingerprintString()).toBe(expected.keyFingerprint);
    expect(chunkDigest(text).toString("hex")).toBe(expected.payloadSha256);
    expect(chunkDigest(text, crypt).toString("hex")).toBe(expected.payloadKeyedDigest);
  });

  it.each([
    ["plain.blob", {}],
    ["compressed.blob", { compress: true }],
    ["encrypted.blob", { crypt, testIv: iv }],
    ["encrypted-compressed.blob", { crypt, compress: true, testIv: iv }],
  ] as const)("%s decodes to the payload and re-encodes to the same bytes", (name, opts) => {
    const raw = read(name);
    expect(blobKind(raw)).toBe(expected.files[name].kind);
    const digest = "crypt" in opts ? chunkDigest(text, crypt) : chunkDigest(text);
    expect(decodeBlob(raw, { crypt, digest }).equals(text)).toBe(true);
    expect(encodeBlob(text, opts).equals(raw)).toBe(true);
  });

  it("disk.img.fidx has the recorded header and digests, and re-encodes identically", () => {
    const info = expected.files["disk.img.fidx"];
    const r = FixedIndexReader.fromBuffer(read("disk.img.fidx"));
    expect(r.uuid.toString("hex")).toBe(info.uuid);
    expect(r.ctime).toBe(info.ctime);
    expect([r.size, r.chunkSize, r.chunkCount]).toEqual([info.size, info.chunkSize, info.digests.length]);
    expect(r.indexCsum.toString("hex")).toBe(info.indexCsum);
    expect([...r].map((c) => c.digest.toString("hex"))).toEqual(info.digests);
    const again = encodeFixedIndex({
      uuid: Buffer.from(info.uuid, "hex"),
      ctime: info.ctime,
      size: info.size,
      chunkSize: info.chunkSize,
      digests: info.digests.map((d: string) => Buffer.from(d, "hex")),
    });
    expect(again.equals(read("disk.img.fidx"))).toBe(true);
  });

  it("root.pxar.didx has the recorded entries and re-encodes identically", () => {
    const info = expected.files["root.pxar.didx"];
    const r = DynamicIndexReader.fromBuffer(read("root.pxar.didx"));
    expect(r.indexCsum.toString("hex")).toBe(info.indexCsum);
    expect([...r].map((c) => ({ end: c.end, digest: c.digest.toString("hex") }))).toEqual(info.entries);
    const entries = info.entries.map((e: { end: number; digest: string }) => ({ end: e.end, digest: Buffer.from(e.digest, "hex") }));
    expect(encodeDynamicIndex({ uuid: Buffer.from(info.uuid, "hex"), ctime: info.ctime, entries }).equals(read("root.pxar.didx"))).toBe(true);
  });

  it("index.json.blob is the recorded signed manifest and re-encodes identically", () => {
    const m = Manifest.fromBlob(read("index.json.blob"), { crypt, requireSignature: true });
    expect(m.toJSON()).toEqual(expected.files["index.json.blob"].json);
    expect(m.verifyState?.state).toBe("ok");
    expect(m.toBlob(crypt).equals(read("index.json.blob"))).toBe(true);
  });

  it.each(["key-scrypt.json", "key-pbkdf2.json"])("%s opens with the recorded passphrase and re-encodes identically", async (name) => {
    const info = expected.files[name];
    const cfg = KeyConfig.parse(read(name));
    expect(cfg.kdf?.kind).toBe(info.kdf);
    expect((await cfg.decrypt(info.passphrase)).equals(key)).toBe(true);
    const again = await KeyConfig.create(key, info.passphrase, {
      kdf: info.kdf,
      now: cfg.created,
      hint: cfg.hint,
      testSalt: Buffer.from(info.salt, "hex"),
      testIv: iv,
    });
    expect(again.serialize()).toBe(read(name).toString("utf8"));
  });
});
