import { createHash, randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import {
  BLOB_HEADER_SIZE,
  blobKind,
  COMPRESSED_BLOB_MAGIC,
  CryptConfig,
  chunkDigest,
  decodeBlob,
  ENCR_COMPR_BLOB_MAGIC,
  ENCRYPTED_BLOB_HEADER_SIZE,
  ENCRYPTED_BLOB_MAGIC,
  encodeBlob,
  encodeChunk,
  isEncryptedBlob,
  MAX_BLOB_SIZE,
  UNCOMPRESSED_BLOB_MAGIC,
  verifyBlobCrc,
} from "../src/index.js";
import { expectCode, textData } from "./helpers.js";

const crypt = new CryptConfig(Buffer.alloc(32, 0x42));
const text = textData(100_000);
const random = randomBytes(50_000);

describe("data blob layout", () => {
  it("plain blob is magic | crc32 of payload | payload", () => {
    const blob = encodeBlob(random);
    expect(blob.length).toBe(BLOB_HEADER_SIZE + random.length);
    expect(blob.subarray(0, 8).equals(UNCOMPRESSED_BLOB_MAGIC)).toBe(true);
    expect(blob.readUInt32LE(8)).toBe(crc32(random));
    expect(blob.subarray(12).equals(random)).toBe(true);
  });

  it("compressed blob keeps zstd output and CRCs the compressed bytes", () => {
    const blob = encodeBlob(text, { compress: true });
    expect(blob.subarray(0, 8).equals(COMPRESSED_BLOB_MAGIC)).toBe(true);
    expect(blob.length).toBeLessThan(text.length);
    expect(blob.readUInt32LE(8)).toBe(crc32(blob.subarray(12)));
    // zstd frame magic 0xFD2FB528
    expect(blob.readUInt32LE(12)).toBe(0xfd2fb528);
  });

  it("compression is dropped when it does not make the payload smaller", () => {
    const blob = encodeBlob(random, { compress: true });
    expect(blobKind(blob)).toBe("plain");
    const tiny = encodeBlob(Buffer.from("a"), { compress: true });
    expect(blobKind(tiny)).toBe("plain");
  });

  it("encrypted blob is magic | crc32 of ciphertext | iv | tag | ciphertext", () => {
    const iv = Buffer.alloc(16, 9);
    const blob = encodeBlob(random, { crypt, testIv: iv });
    expect(blob.subarray(0, 8).equals(ENCRYPTED_BLOB_MAGIC)).toBe(true);
    expect(blob.length).toBe(ENCRYPTED_BLOB_HEADER_SIZE + random.length);
    expect(blob.subarray(12, 28).equals(iv)).toBe(true);
    expect(blob.readUInt32LE(8)).toBe(crc32(blob.subarray(44)));
    const { ciphertext, tag } = crypt.encrypt(random, iv);
    expect(blob.subarray(28, 44).equals(tag)).toBe(true);
    expect(blob.subarray(44).equals(ciphertext)).toBe(true);
  });

  it("encrypted+compressed blob compresses before encrypting", () => {
    const blob = encodeBlob(text, { crypt, compress: true });
    expect(blob.subarray(0, 8).equals(ENCR_COMPR_BLOB_MAGIC)).toBe(true);
    expect(blob.length).toBeLessThan(text.length);
    expect(isEncryptedBlob(blob)).toBe(true);
  });

  it("two encryptions of the same data use different IVs", () => {
    const a = encodeBlob(text, { crypt });
    const b = encodeBlob(text, { crypt });
    expect(a.subarray(12, 28).equals(b.subarray(12, 28))).toBe(false);
  });
});

describe("data blob round trips", () => {
  const cases = [
    { name: "plain", opts: {}, kind: "plain" },
    { name: "compressed", opts: { compress: true }, kind: "compressed" },
    { name: "encrypted", opts: { crypt }, kind: "encrypted" },
    { name: "encrypted+compressed", opts: { crypt, compress: true }, kind: "encrypted-compressed" },
  ] as const;

  it.each(cases)("$name blob decodes to the original data and checks its digest", ({ opts, kind }) => {
    const { blob, digest } = encodeChunk(text, opts);
    expect(blobKind(blob)).toBe(kind);
    expect(decodeBlob(blob, { crypt, digest }).equals(text)).toBe(true);
  });

  it.each(cases)("$name blob of empty data round-trips", ({ opts }) => {
    const blob = encodeBlob(Buffer.alloc(0), opts);
    expect(decodeBlob(blob, { crypt }).length).toBe(0);
  });

  it("digest of an encrypted chunk is keyed, of a plain chunk is SHA-256", () => {
    expect(chunkDigest(text).equals(createHash("sha256").update(text).digest())).toBe(true);
    expect(chunkDigest(text, crypt).equals(crypt.computeDigest(text))).toBe(true);
  });

  it.each(cases)("$name blob decodes into a caller's scratch buffer when it fits", ({ opts }) => {
    const { blob, digest } = encodeChunk(text, opts);
    const scratch = Buffer.alloc(text.length + 100, 0xee);
    const out = decodeBlob(blob, { crypt, digest, into: scratch });
    expect(out.equals(text)).toBe(true);
    // plain and compressed payloads land in the scratch buffer; decryption makes its own
    if (!("crypt" in opts) || "compress" in opts) expect(out.buffer).toBe(scratch.buffer);
    const small = Buffer.alloc(text.length - 1, 0xee);
    const out2 = decodeBlob(blob, { crypt, digest, into: small });
    expect(out2.equals(text)).toBe(true);
    expect(out2.buffer).not.toBe(small.buffer);
    expect(small.every((b) => b === 0xee)).toBe(true);
  });

  it("compresses at the level asked for; every level decodes alike; a bad level is ERR_BLOB_LEVEL", () => {
    const data = Buffer.from(Array.from({ length: 20000 }, (_, i) => `line ${i % 977} of some text ${(i * 7) % 13}\n`).join(""));
    const l1 = encodeBlob(data, { compress: true });
    const l9 = encodeBlob(data, { compress: true, level: 9 });
    expect(l9.length).toBeLessThan(l1.length);
    expect(decodeBlob(l9).equals(data)).toBe(true);
    expect(encodeBlob(data, { compress: true, level: 1 }).equals(l1)).toBe(true);
    expectCode(() => encodeBlob(data, { compress: true, level: 99 }), "ERR_BLOB_LEVEL");
    expectCode(() => encodeBlob(data, { compress: true, level: 1.5 }), "ERR_BLOB_LEVEL");
  });

  it("leaves the headroom asked for free in front of the blob, bytes unchanged; a bad headroom is ERR_BLOB_HEADROOM", () => {
    const key = randomBytes(32);
    for (const opts of [{ compress: true }, { compress: false }, { compress: true, crypt: new CryptConfig(key), testIv: Buffer.alloc(16, 3) }]) {
      const plain = encodeBlob(text, opts);
      const roomy = encodeBlob(text, { ...opts, headroom: 512 });
      expect(roomy.equals(plain)).toBe(true);
      expect(roomy.byteOffset).toBe(512);
      expect(roomy.buffer.byteLength).toBe(512 + roomy.length);
    }
    expectCode(() => encodeBlob(text, { headroom: -1 }), "ERR_BLOB_HEADROOM");
    expectCode(() => encodeBlob(text, { headroom: 0.5 }), "ERR_BLOB_HEADROOM");
  });

  it("accepts a Uint8Array that is not a Buffer", () => {
    const blob = encodeBlob(new Uint8Array(text), { compress: true });
    expect(decodeBlob(new Uint8Array(blob)).equals(text)).toBe(true);
  });
});

describe("data blob rejects bad input", () => {
  it("a short blob is ERR_BLOB_SHORT", () => {
    expectCode(() => decodeBlob(Buffer.alloc(5)), "ERR_BLOB_SHORT");
    expectCode(() => decodeBlob(Buffer.concat([UNCOMPRESSED_BLOB_MAGIC, Buffer.alloc(2)])), "ERR_BLOB_SHORT");
    expectCode(() => decodeBlob(encodeBlob(text, { crypt }).subarray(0, 40), { crypt }), "ERR_BLOB_SHORT");
  });

  it("an unknown magic is ERR_BLOB_MAGIC", () => {
    const blob = encodeBlob(text);
    blob[0] ^= 1;
    expectCode(() => decodeBlob(blob), "ERR_BLOB_MAGIC");
    expectCode(() => blobKind(blob), "ERR_BLOB_MAGIC");
  });

  it("a flipped payload bit is ERR_BLOB_CRC, also through verifyBlobCrc", () => {
    for (const opts of [{}, { compress: true }, { crypt }, { crypt, compress: true }]) {
      const blob = encodeBlob(text, opts);
      verifyBlobCrc(blob);
      blob[blob.length - 1] ^= 0x10;
      expectCode(() => verifyBlobCrc(blob), "ERR_BLOB_CRC");
      expectCode(() => decodeBlob(blob, { crypt }), "ERR_BLOB_CRC");
    }
  });

  it("a flipped CRC byte is ERR_BLOB_CRC", () => {
    const blob = encodeBlob(text);
    blob[9] ^= 0x80;
    expectCode(() => decodeBlob(blob), "ERR_BLOB_CRC");
  });

  it("an altered IV or tag, or the wrong key, is ERR_BLOB_DECRYPT", () => {
    const blob = encodeBlob(text, { crypt, compress: true });
    const badIv = Buffer.from(blob);
    badIv[13] ^= 1;
    expectCode(() => decodeBlob(badIv, { crypt }), "ERR_BLOB_DECRYPT");
    const badTag = Buffer.from(blob);
    badTag[30] ^= 1;
    expectCode(() => decodeBlob(badTag, { crypt }), "ERR_BLOB_DECRYPT");
    expectCode(() => decodeBlob(blob, { crypt: new CryptConfig(Buffer.alloc(32, 1)) }), "ERR_BLOB_DECRYPT");
  });

  it("an encrypted blob without a key is ERR_BLOB_NEEDS_KEY", () => {
    expectCode(() => decodeBlob(encodeBlob(text, { crypt })), "ERR_BLOB_NEEDS_KEY");
  });

  it("a wrong expected digest is ERR_DIGEST_MISMATCH", () => {
    const blob = encodeBlob(text, { compress: true });
    expectCode(() => decodeBlob(blob, { digest: Buffer.alloc(32) }), "ERR_DIGEST_MISMATCH");
    // plain digest given for an encrypted chunk: the keyed one is expected
    const enc = encodeBlob(text, { crypt });
    expectCode(() => decodeBlob(enc, { crypt, digest: chunkDigest(text) }), "ERR_DIGEST_MISMATCH");
  });

  it("a corrupt zstd stream with a valid CRC is ERR_BLOB_DECOMPRESS", () => {
    const payload = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x10, 0xff, 0xff, 0xff, 0xff]);
    const blob = Buffer.alloc(12 + payload.length);
    COMPRESSED_BLOB_MAGIC.copy(blob, 0);
    payload.copy(blob, 12);
    blob.writeUInt32LE(crc32(payload), 8);
    expectCode(() => decodeBlob(blob), "ERR_BLOB_DECOMPRESS");
  });

  it("a zstd frame declaring more than 128 MiB is ERR_BLOB_TOO_LARGE", () => {
    // single-segment frame header with an 8-byte content size of 1 GiB
    const payload = Buffer.alloc(4 + 1 + 8 + 3);
    payload.writeUInt32LE(0xfd2fb528, 0);
    payload[4] = 0xe0; // FCS field 8 bytes, single segment
    payload.writeBigUInt64LE(1n << 30n, 5);
    const blob = Buffer.alloc(12 + payload.length);
    COMPRESSED_BLOB_MAGIC.copy(blob, 0);
    payload.copy(blob, 12);
    blob.writeUInt32LE(crc32(payload), 8);
    expectCode(() => decodeBlob(blob), "ERR_BLOB_TOO_LARGE");
  });

  it("encoding more than 128 MiB is ERR_BLOB_TOO_LARGE", () => {
    const big = Buffer.alloc(MAX_BLOB_SIZE + 1);
    expectCode(() => encodeBlob(big), "ERR_BLOB_TOO_LARGE");
  });
});
