// fast-check properties: round trips of every format, and "any mutation of valid bytes gives a
// typed FormatError or the same data". Where a mutation can legitimately leave the data intact
// (uuid, ctime and reserved header bytes of an index; the size fields of a fixed index, which
// PBS keeps outside index_csum) the property says exactly which bytes those are.

import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CryptConfig,
  chunkDigest,
  DynamicIndexReader,
  decodeBlob,
  encodeBlob,
  encodeDynamicIndex,
  encodeFixedIndex,
  FixedIndexReader,
  FormatError,
  KeyConfig,
  Manifest,
} from "../src/index.js";

const RUNS = { numRuns: 200 };
const crypt = new CryptConfig(Buffer.alloc(32, 0x33));
const otherCrypt = new CryptConfig(Buffer.alloc(32, 0x44));

const kinds = [
  { name: "plain", opts: {} },
  { name: "compressed", opts: { compress: true } },
  { name: "encrypted", opts: { crypt } },
  { name: "encrypted+compressed", opts: { crypt, compress: true } },
] as const;

/** Random bytes, or runs of few symbols that zstd actually shrinks. */
const payload = fc.oneof(
  fc.uint8Array({ maxLength: 4096 }),
  fc
    .array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 300 })), { maxLength: 40 })
    .map((runs) => Buffer.concat(runs.map(([b, n]) => Buffer.alloc(n, 97 + b)))),
);

type Mutation = { kind: "flip"; at: number; xor: number } | { kind: "truncate"; to: number } | { kind: "extend"; extra: Uint8Array };

const mutation = (len: number): fc.Arbitrary<Mutation> =>
  fc.oneof(
    fc.record({ kind: fc.constant("flip" as const), at: fc.integer({ min: 0, max: len - 1 }), xor: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant("truncate" as const), to: fc.integer({ min: 0, max: len - 1 }) }),
    fc.record({ kind: fc.constant("extend" as const), extra: fc.uint8Array({ minLength: 1, maxLength: 100 }) }),
  );

function mutate(buf: Buffer, m: Mutation): Buffer {
  if (m.kind === "flip") {
    const out = Buffer.from(buf);
    out[m.at] ^= m.xor;
    return out;
  }
  if (m.kind === "truncate") return Buffer.from(buf.subarray(0, m.to));
  return Buffer.concat([buf, m.extra]);
}

/** Runs `fn`; returns the FormatError it threw, or undefined. Any other exception fails the property. */
function typed<T>(fn: () => T): { ok: true; value: T } | { ok: false; err: FormatError } {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    if (!(err instanceof FormatError)) throw new Error(`untyped error: ${String(err)}`, { cause: err });
    return { ok: false, err };
  }
}

describe("blob properties", () => {
  it.each(kinds)("$name: decode(encode(x)) = x, and the digest checks", ({ opts }) => {
    fc.assert(
      fc.property(payload, (data) => {
        const blob = encodeBlob(data, opts);
        const digest = chunkDigest(data, "crypt" in opts ? opts.crypt : undefined);
        expect(decodeBlob(blob, { crypt, digest }).equals(Buffer.from(data))).toBe(true);
      }),
      RUNS,
    );
  });

  // Every byte of a blob is covered: magic by the magic check, the CRC field and the payload by
  // the CRC (which catches any single-byte change), iv and tag by GCM. A truncation or extension
  // is a CRC change except with probability 2^-32. So no mutation may decode.
  it.each(kinds)("$name: any flip, truncation or extension is a typed error", ({ opts }) => {
    fc.assert(
      fc.property(
        payload.chain((data) => {
          const blob = encodeBlob(data, opts);
          return fc.tuple(fc.constant(data), fc.constant(blob), mutation(blob.length));
        }),
        ([, blob, m]) => {
          const r = typed(() => decodeBlob(mutate(blob, m), { crypt }));
          expect(r.ok).toBe(false);
        },
      ),
      RUNS,
    );
  });

  it("encrypted blobs decoded with another key are ERR_BLOB_DECRYPT", () => {
    fc.assert(
      fc.property(payload, fc.boolean(), (data, compress) => {
        const r = typed(() => decodeBlob(encodeBlob(data, { crypt, compress }), { crypt: otherCrypt }));
        expect(r.ok === false && r.err.code).toBe("ERR_BLOB_DECRYPT");
      }),
      { numRuns: 50 },
    );
  });

  it("arbitrary bytes, even behind a valid magic and CRC, never crash the decoder", () => {
    const magics = kinds.map(({ opts }) => encodeBlob(Buffer.alloc(0), opts).subarray(0, 8));
    fc.assert(
      fc.property(fc.option(fc.constantFrom(...magics), { nil: undefined }), fc.uint8Array({ maxLength: 300 }), fc.boolean(), (magic, rest, fixCrc) => {
        let raw = Buffer.from(rest);
        if (magic !== undefined) {
          raw = Buffer.concat([magic, Buffer.alloc(4), raw]);
          const headerSize = magic.equals(magics[2]) || magic.equals(magics[3]) ? 44 : 12;
          if (fixCrc && raw.length >= headerSize) {
            raw.writeUInt32LE(crc32(raw.subarray(headerSize)), 8);
          }
        }
        typed(() => decodeBlob(raw, { crypt }));
      }),
      RUNS,
    );
  });
});

const digestArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((a) => Buffer.from(a));

const dynamicEntries = fc
  .array(fc.tuple(fc.integer({ min: 1, max: 1 << 22 }), digestArb), { maxLength: 30 })
  .map((list) => {
    let end = 0;
    return list.map(([len, digest]) => ({ end: (end += len), digest }));
  });

const fixedGeometry = fc
  .record({ chunkSize: fc.integer({ min: 1, max: 1 << 22 }), count: fc.integer({ min: 0, max: 20 }), tail: fc.integer({ min: 0, max: 1 << 22 }) })
  .chain(({ chunkSize, count, tail }) => {
    const size = count === 0 ? 0 : (count - 1) * chunkSize + 1 + (tail % chunkSize);
    return fc.record({ size: fc.constant(size), chunkSize: fc.constant(chunkSize), digests: fc.array(digestArb, { minLength: count, maxLength: count }) });
  });

function sameDynamic(r: DynamicIndexReader, entries: { end: number; digest: Buffer }[]): boolean {
  return r.chunkCount === entries.length && entries.every((e, i) => r.chunkInfo(i).end === e.end && r.digest(i).equals(e.digest));
}

describe("index properties", () => {
  it("dynamic index round trip keeps every entry and the csum", () => {
    fc.assert(
      fc.property(dynamicEntries, (entries) => {
        const r = DynamicIndexReader.fromBuffer(encodeDynamicIndex({ entries }));
        expect(sameDynamic(r, entries)).toBe(true);
        const h = createHash("sha256");
        for (const e of entries) {
          const le = Buffer.alloc(8);
          le.writeBigUInt64LE(BigInt(e.end));
          h.update(le).update(e.digest);
        }
        expect(r.indexCsum.equals(h.digest())).toBe(true);
        for (const [i, e] of entries.entries()) expect(r.chunkFromOffset(e.end - 1)).toBe(i);
      }),
      RUNS,
    );
  });

  it("fixed index round trip keeps geometry and digests", () => {
    fc.assert(
      fc.property(fixedGeometry, (g) => {
        const r = FixedIndexReader.fromBuffer(encodeFixedIndex(g));
        expect([r.size, r.chunkSize, r.chunkCount]).toEqual([g.size, g.chunkSize, g.digests.length]);
        g.digests.forEach((d, i) => {
          expect(r.digest(i).equals(d)).toBe(true);
        });
        if (g.digests.length > 0) expect(r.chunkInfo(g.digests.length - 1).end).toBe(g.size);
      }),
      RUNS,
    );
  });

  // Bytes 8..32 (uuid, ctime) and the reserved zero area are outside index_csum and carry no
  // data, so a flip there may decode; everything else must be refused.
  it("dynamic index: a mutation is a typed error unless it hits uuid, ctime or reserved bytes", () => {
    fc.assert(
      fc.property(
        dynamicEntries.chain((entries) => {
          const buf = encodeDynamicIndex({ entries });
          return fc.tuple(fc.constant(entries), fc.constant(buf), mutation(buf.length));
        }),
        ([entries, buf, m]) => {
          const r = typed(() => DynamicIndexReader.fromBuffer(mutate(buf, m)));
          if (r.ok) {
            expect(m.kind).toBe("flip");
            const at = (m as { at: number }).at;
            expect((at >= 8 && at < 32) || (at >= 64 && at < 4096)).toBe(true);
            expect(sameDynamic(r.value, entries)).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  // As above, plus size and chunk_size (64..80): PBS keeps them outside index_csum, so a flip
  // that keeps ceil(size/chunk_size) unchanged decodes with other chunk bounds. The digests are
  // still the original ones; readers cross-check size with the manifest (expectedSize).
  it("fixed index: a mutation is a typed error unless it hits uuid, ctime, geometry or reserved bytes", () => {
    fc.assert(
      fc.property(
        fixedGeometry.chain((g) => {
          const buf = encodeFixedIndex(g);
          return fc.tuple(fc.constant(g), fc.constant(buf), mutation(buf.length));
        }),
        ([g, buf, m]) => {
          const r = typed(() => FixedIndexReader.fromBuffer(mutate(buf, m)));
          if (r.ok) {
            expect(m.kind).toBe("flip");
            const at = (m as { at: number }).at;
            expect((at >= 8 && at < 32) || (at >= 64 && at < 4096)).toBe(true);
            expect(r.value.chunkCount).toBe(g.digests.length);
            g.digests.forEach((d, i) => {
              expect(r.value.digest(i).equals(d)).toBe(true);
            });
            if (at >= 64 && at < 80) {
              expect(typed(() => FixedIndexReader.fromBuffer(mutate(buf, m), { expectedSize: g.size })).ok).toBe(r.value.size === g.size);
            } else {
              expect([r.value.size, r.value.chunkSize]).toEqual([g.size, g.chunkSize]);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("arbitrary bytes behind an index magic never crash the readers", () => {
    const dyn = encodeDynamicIndex({ entries: [] }).subarray(0, 4096);
    const fix = encodeFixedIndex({ size: 0, digests: [] }).subarray(0, 4096);
    fc.assert(
      fc.property(fc.boolean(), fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 100 }), (isDyn, head, body) => {
        const header = Buffer.from(isDyn ? dyn : fix);
        header.set(head.subarray(0, 4088), 8);
        const buf = Buffer.concat([header, body]);
        typed(() => (isDyn ? DynamicIndexReader.fromBuffer(buf) : FixedIndexReader.fromBuffer(buf)));
        typed(() => (isDyn ? DynamicIndexReader.fromBuffer(buf, { verifyCsum: false }) : FixedIndexReader.fromBuffer(buf, { verifyCsum: false })));
      }),
      RUNS,
    );
  });
});

const manifestArb = fc.record({
  backupType: fc.constantFrom("vm" as const, "ct" as const, "host" as const),
  backupId: fc.string({ minLength: 1, maxLength: 20, unit: "binary" }),
  backupTime: fc.integer({ min: 0, max: 2 ** 40 }),
  files: fc.uniqueArray(
    fc.record({
      filename: fc.string({ minLength: 1, maxLength: 20, unit: "binary" }),
      cryptMode: fc.constantFrom("none" as const, "encrypt" as const, "sign-only" as const),
      size: fc.integer({ min: 0, max: 2 ** 50 }),
      csum: digestArb.map((d) => d.toString("hex")),
    }),
    { selector: (f) => f.filename, maxLength: 5 },
  ),
});

describe("manifest properties", () => {
  it("serialize → parse is the identity and the signature verifies", () => {
    fc.assert(
      fc.property(manifestArb, (init) => {
        const m = new Manifest(init);
        const back = Manifest.parse(m.serialize(crypt), { crypt, requireSignature: true });
        expect(back.toJSON()).toEqual(m.toJSON());
        const blob = Manifest.fromBlob(m.toBlob(crypt), { crypt });
        expect(blob.files).toEqual(m.files);
      }),
      RUNS,
    );
  });

  it("changing any protected value breaks the signature", () => {
    fc.assert(
      fc.property(manifestArb, fc.nat(), fc.string({ minLength: 1, maxLength: 5 }), (init, pick, text) => {
        const json = JSON.parse(new Manifest(init).serialize(crypt));
        const fields: (() => void)[] = [
          () => void (json["backup-id"] += text),
          () => void (json["backup-time"] += 1),
          () => void (json["backup-type"] = json["backup-type"] === "vm" ? "ct" : "vm"),
          () => void json.files.push({ filename: `${text}-extra`, "crypt-mode": "none", size: 1, csum: "00".repeat(32) }),
        ];
        if (json.files.length > 0) {
          fields.push(() => void (json.files[0].size += 1));
          fields.push(() => void (json.files[0].filename += text));
          fields.push(() => json.files.pop());
        }
        fields[pick % fields.length]();
        const r = typed(() => Manifest.parse(JSON.stringify(json), { crypt }));
        expect(r.ok === false && r.err.code).toBe("ERR_MANIFEST_SIGNATURE");
      }),
      RUNS,
    );
  });

  it("any mutation of a manifest blob is a typed error; arbitrary JSON never crashes the parser", () => {
    const blob = new Manifest({ backupType: "host", backupId: "x", backupTime: 1, files: [] }).toBlob(crypt);
    fc.assert(
      fc.property(mutation(blob.length), (m) => {
        expect(typed(() => Manifest.fromBlob(mutate(blob, m), { crypt })).ok).toBe(false);
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.oneof(fc.json(), fc.string()), (text) => {
        typed(() => Manifest.parse(text, { crypt }));
      }),
      RUNS,
    );
  });
});

describe("key file properties", () => {
  it("decrypt with any other passphrase is ERR_PASSPHRASE", async () => {
    const cfg = await KeyConfig.create(Buffer.alloc(32, 9), "the right one", { kdf: "pbkdf2" });
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 0, maxLength: 20 }), async (pw) => {
        fc.pre(pw !== "the right one");
        let code: string | undefined;
        try {
          await cfg.decrypt(pw);
        } catch (err) {
          code = (err as FormatError).code;
        }
        expect(code).toBe("ERR_PASSPHRASE");
      }),
      { numRuns: 15 },
    );
  });

  it("a flipped byte of the key file is a typed error or decodes to the same key", async () => {
    const key = Buffer.alloc(32, 9);
    const text = Buffer.from((await KeyConfig.create(key, "the right one", { kdf: "pbkdf2" })).serialize());
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: text.length - 1 }), fc.integer({ min: 1, max: 127 }), async (at, xor) => {
        const bad = Buffer.from(text);
        bad[at] ^= xor;
        try {
          const got = await KeyConfig.parse(bad).decrypt("the right one");
          expect(got.equals(key)).toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(FormatError);
        }
      }),
      { numRuns: 25 },
    );
  });
});
