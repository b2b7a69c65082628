import { createHmac, pbkdf2Sync } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { blobKind, CryptConfig, canonicalJson, decodeBlob, Manifest } from "../src/index.js";
import { expectCode, expectCodeAsync, tempDir } from "./helpers.js";

const key = Buffer.alloc(32, 0x11);
const crypt = new CryptConfig(key);
const other = new CryptConfig(Buffer.alloc(32, 0x22));
const csumA = "aa".repeat(32);
const csumB = "0b".repeat(32);

function sample(): Manifest {
  const m = new Manifest({ backupType: "host", backupId: "web1", backupTime: 1_700_000_000 });
  m.addFile("root.pxar.didx", 123_456, csumA, "encrypt");
  m.addFile("catalog.pcat1.didx", 789, Buffer.from(csumB, "hex"), "encrypt");
  return m;
}

describe("canonical JSON", () => {
  it("sorts keys recursively by UTF-8 bytes and writes no whitespace", () => {
    expect(canonicalJson({ b: 1, a: [{ z: "x", y: true }], "a-b": "q\n\"" })).toBe('{"a":[{"y":true,"z":"x"}],"a-b":"q\\n\\"","b":1}');
    // U+FF5E sorts before U+1F600 in UTF-16 but after it in UTF-8
    expect(canonicalJson({ "\u{1F600}": 1, "\uFF5E": 2 })).toBe('{"\uFF5E":2,"\u{1F600}":1}');
  });

  it("refuses null, as PBS does", () => {
    expectCode(() => canonicalJson({ a: null }), "ERR_MANIFEST_SHAPE");
  });
});

describe("manifest", () => {
  it("serializes kebab-case keys in PBS order and parses back", () => {
    const m = sample();
    const json = JSON.parse(m.serialize());
    expect(Object.keys(json)).toEqual(["backup-type", "backup-id", "backup-time", "files", "unprotected"]);
    expect(json.files[0]).toEqual({ filename: "root.pxar.didx", "crypt-mode": "encrypt", size: 123_456, csum: csumA });
    const back = Manifest.parse(m.serialize());
    expect(back.toJSON()).toEqual(m.toJSON());
    expect(back.lookupFile("catalog.pcat1.didx")?.csum).toBe(csumB);
  });

  it("signature is HMAC(id_key) over canonical JSON without unprotected and signature", () => {
    const m = sample();
    m.unprotected.notes = "anything";
    m.sign(crypt);
    const idKey = pbkdf2Sync(key, "_id_key", 10, 32, "sha256");
    const signed = canonicalJson({ "backup-type": "host", "backup-id": "web1", "backup-time": 1_700_000_000, files: m.toJSON().files });
    expect(m.signature).toBe(createHmac("sha256", idKey).update(signed).digest("hex"));
    expect(m.signedContent()).toBe(signed);
    expect(m.keyFingerprint).toBe(crypt.fingerprintFull());
  });

  it("a signed manifest verifies; unprotected changes do not break it", () => {
    const text = sample().serialize(crypt);
    const m = Manifest.parse(text, { crypt, requireSignature: true });
    m.verifyState = { state: "ok", upid: "UPID:node:0001:verify" };
    m.unprotected.chunk_upload_stats = { count: 3 };
    const again = Manifest.parse(m.serialize(), { crypt, requireSignature: true });
    expect(again.verifyState).toEqual({ state: "ok", upid: "UPID:node:0001:verify" });
    again.verify(crypt);
  });

  it("a changed protected field is ERR_MANIFEST_SIGNATURE", () => {
    const json = JSON.parse(sample().serialize(crypt));
    json.files[0].size += 1;
    expectCode(() => Manifest.parse(JSON.stringify(json), { crypt }), "ERR_MANIFEST_SIGNATURE");
    const bad = JSON.parse(sample().serialize(crypt));
    bad.signature = "00".repeat(32);
    expectCode(() => Manifest.parse(JSON.stringify(bad), { crypt }), "ERR_MANIFEST_SIGNATURE");
  });

  it("a manifest signed with another key is ERR_KEY_FINGERPRINT", () => {
    expectCode(() => Manifest.parse(sample().serialize(other), { crypt }), "ERR_KEY_FINGERPRINT");
  });

  it("with another key and no fingerprint recorded, the signature check catches it", () => {
    const json = JSON.parse(sample().serialize(other));
    delete json.unprotected["key-fingerprint"];
    expectCode(() => Manifest.parse(JSON.stringify(json), { crypt }), "ERR_MANIFEST_SIGNATURE");
  });

  it("unsigned manifests are read with a key unless a signature is required", () => {
    const text = sample().serialize();
    expect(Manifest.parse(text, { crypt }).signature).toBeUndefined();
    expectCode(() => Manifest.parse(text, { crypt, requireSignature: true }), "ERR_MANIFEST_UNSIGNED");
    expectCode(() => Manifest.parse(text).verify(crypt), "ERR_MANIFEST_UNSIGNED");
  });

  it("invalid JSON is ERR_MANIFEST_JSON; wrong shape is ERR_MANIFEST_SHAPE", () => {
    expectCode(() => Manifest.parse("{not json"), "ERR_MANIFEST_JSON");
    expectCode(() => Manifest.parse("[]"), "ERR_MANIFEST_SHAPE");
    const good = sample().toJSON();
    const cases: Record<string, unknown>[] = [
      { ...good, "backup-type": "tape" },
      { ...good, "backup-id": 5 },
      { ...good, "backup-time": "yesterday" },
      { ...good, files: {} },
      { ...good, files: [{ filename: "a", "crypt-mode": "none", size: -1, csum: csumA }] },
      { ...good, files: [{ filename: "a", "crypt-mode": "none", size: 1, csum: "xyz" }] },
      { ...good, files: [{ filename: "a", "crypt-mode": "secret", size: 1, csum: csumA }] },
      { ...good, unprotected: [] },
      { ...good, signature: 7 },
    ];
    for (const c of cases) expectCode(() => Manifest.parse(JSON.stringify(c)), "ERR_MANIFEST_SHAPE");
  });

  it("refuses listing a file twice", () => {
    expectCode(() => sample().addFile("root.pxar.didx", 1, csumA), "ERR_MANIFEST_SHAPE");
  });

  it("index.json.blob is a compressed, unencrypted blob, saved atomically", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, "index.json.blob");
      await sample().save(path, crypt);
      expect(await readdir(dir)).toEqual(["index.json.blob"]);
      const m = await Manifest.load(path, { crypt, requireSignature: true });
      expect(m.files).toHaveLength(2);
      const blob = sample().toBlob(crypt);
      expect(blobKind(blob)).toBe("compressed");
      expect(JSON.parse(decodeBlob(blob).toString()).signature).toMatch(/^[0-9a-f]{64}$/);
      await expectCodeAsync(Manifest.load(path, { crypt: other }), "ERR_KEY_FINGERPRINT");
    } finally {
      await cleanup();
    }
  });
});
