import { createHash, createHmac, pbkdf2Sync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { CryptConfig, FormatError } from "../src/index.js";

const KEY = Buffer.alloc(32, 7);

describe("CryptConfig", () => {
  const crypt = new CryptConfig(KEY);
  const idKey = pbkdf2Sync(KEY, "_id_key", 10, 32, "sha256");

  it("keyed digest is SHA-256(data || id_key)", () => {
    const data = Buffer.from("some chunk data");
    const expected = createHash("sha256").update(data).update(idKey).digest();
    expect(crypt.computeDigest(data).equals(expected)).toBe(true);
  });

  it("auth tag is HMAC-SHA256 keyed with id_key", () => {
    const data = Buffer.from('{"a":1}');
    expect(crypt.computeAuthTag(data).equals(createHmac("sha256", idKey).update(data).digest())).toBe(true);
  });

  it("fingerprint is the keyed digest of SHA-256 of the fingerprint label", () => {
    const input = createHash("sha256").update("Proxmox Backup Encryption Key Fingerprint").digest();
    const fp = crypt.fingerprint();
    expect(fp.length).toBe(32);
    expect(fp.equals(crypt.computeDigest(input))).toBe(true);
    expect(crypt.fingerprintString()).toBe([...fp.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join(":"));
    expect(crypt.fingerprintFull().split(":")).toHaveLength(32);
  });

  it("different keys give different digests for the same data", () => {
    const other = new CryptConfig(Buffer.alloc(32, 8));
    expect(other.computeDigest(Buffer.from("x")).equals(crypt.computeDigest(Buffer.from("x")))).toBe(false);
  });

  it("refuses a key that is not 32 bytes", () => {
    expect(() => new CryptConfig(Buffer.alloc(31))).toThrowError(FormatError);
    try {
      new CryptConfig(Buffer.alloc(33));
    } catch (err) {
      expect((err as FormatError).code).toBe("ERR_KEY_LENGTH");
    }
  });
});
