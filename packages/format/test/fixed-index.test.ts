import { createHash, randomBytes } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  encodeFixedIndex,
  FIXED_INDEX_MAGIC,
  FixedIndexReader,
  FixedIndexWriter,
  HEADER_SIZE,
} from "../src/index.js";
import { expectCode, expectCodeAsync, tempDir } from "./helpers.js";

const MiB = 1024 * 1024;
const digests = (n: number) => Array.from({ length: n }, (_, i) => createHash("sha256").update(`chunk ${i}`).digest());

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

describe("fixed index file layout", () => {
  it("HEADER_SIZE is 4096", () => {
    expect(HEADER_SIZE).toBe(4096);
  });

  it("a written .fidx has the spec's header at explicit offsets and 32-byte entries after it", async () => {
    const path = join(dir, "drive-scsi0.img.fidx");
    const uuid = randomBytes(16);
    const ds = digests(3);
    const w = await FixedIndexWriter.create(path, { size: 10 * MiB, chunkSize: 4 * MiB, ctime: 1_700_000_000, uuid });
    for (const d of ds) await w.add(d);
    const result = await w.close();
    const bytes = await readFile(path);
    expect(bytes.length).toBe(4096 + 3 * 32);
    expect(bytes.subarray(0, 8).equals(FIXED_INDEX_MAGIC)).toBe(true);
    expect(bytes.subarray(8, 24).equals(uuid)).toBe(true);
    expect(bytes.readBigInt64LE(24)).toBe(1_700_000_000n);
    const csum = createHash("sha256").update(Buffer.concat(ds)).digest();
    expect(bytes.subarray(32, 64).equals(csum)).toBe(true);
    expect(result.csum.equals(csum)).toBe(true);
    expect(bytes.readBigUInt64LE(64)).toBe(BigInt(10 * MiB));
    expect(bytes.readBigUInt64LE(72)).toBe(BigInt(4 * MiB));
    expect(bytes.subarray(80, 4096).every((b) => b === 0)).toBe(true);
    for (let i = 0; i < 3; i++) expect(bytes.subarray(4096 + i * 32, 4096 + (i + 1) * 32).equals(ds[i])).toBe(true);
    expect(await readdir(dir)).toEqual(["drive-scsi0.img.fidx"]);
  });
});

describe("fixed index reader", () => {
  it("reads back geometry, chunk ranges (last one short) and csum", async () => {
    const path = join(dir, "a.fidx");
    const ds = digests(3);
    const w = await FixedIndexWriter.create(path, { size: 10 * MiB });
    for (const d of ds) await w.add(d);
    const { csum } = await w.close();
    const r = await FixedIndexReader.open(path);
    expect(r.chunkCount).toBe(3);
    expect(r.size).toBe(10 * MiB);
    expect(r.chunkSize).toBe(4 * MiB);
    expect(r.indexCsum.equals(csum)).toBe(true);
    expect(r.computeCsum().equals(csum)).toBe(true);
    expect(r.chunkInfo(0)).toMatchObject({ start: 0, end: 4 * MiB });
    expect(r.chunkInfo(2)).toMatchObject({ start: 8 * MiB, end: 10 * MiB });
    expect(r.chunkInfo(1).digest.equals(ds[1])).toBe(true);
    expect(r.chunkFromOffset(4 * MiB)).toBe(1);
    expect(r.chunkFromOffset(10 * MiB)).toBeUndefined();
    expect([...r].length).toBe(3);
    expectCode(() => r.chunkInfo(3), "ERR_INDEX_RANGE");
  });

  it("an empty image has no entries", () => {
    const r = FixedIndexReader.fromBuffer(encodeFixedIndex({ size: 0, digests: [] }));
    expect(r.chunkCount).toBe(0);
    expect(r.size).toBe(0);
  });

  it("setChunk fills chunks out of order; close refuses while one is unset", async () => {
    const path = join(dir, "b.fidx");
    const ds = digests(4);
    const w = await FixedIndexWriter.create(path, { size: 4 * 1000, chunkSize: 1000 });
    w.setChunk(3, ds[3]);
    w.setChunk(0, ds[0]);
    w.setChunk(2, ds[2]);
    await expectCodeAsync(w.close(), "ERR_INDEX_COUNT");
    w.setChunk(1, ds[1]);
    await w.close();
    const r = await FixedIndexReader.open(path);
    for (const [i, d] of ds.entries()) expect(r.digest(i).equals(d)).toBe(true);
    await expectCodeAsync(w.close(), "ERR_WRITER_CLOSED");
  });

  it("abort removes the tmp file and leaves no index", async () => {
    const path = join(dir, "c.fidx");
    const w = await FixedIndexWriter.create(path, { size: 1 });
    expect(await readdir(dir)).toEqual(["c.fidx.tmp"]);
    await w.abort();
    expect(await readdir(dir)).toEqual([]);
  });

  it("encodeFixedIndex output equals the writer's output for the same identity", async () => {
    const path = join(dir, "d.fidx");
    const ds = digests(2);
    const uuid = Buffer.alloc(16, 3);
    const w = await FixedIndexWriter.create(path, { size: 5, chunkSize: 4, uuid, ctime: 5 });
    for (const d of ds) await w.add(d);
    await w.close();
    expect((await readFile(path)).equals(encodeFixedIndex({ size: 5, chunkSize: 4, uuid, ctime: 5, digests: ds }))).toBe(true);
  });
});

describe("fixed index rejects bad files", () => {
  const good = () => encodeFixedIndex({ size: 10, chunkSize: 4, digests: digests(3) });

  it("short header is ERR_INDEX_SHORT", () => {
    expectCode(() => FixedIndexReader.fromBuffer(good().subarray(0, 4095)), "ERR_INDEX_SHORT");
  });

  it("wrong magic is ERR_INDEX_MAGIC, also for a dynamic index", () => {
    const b = good();
    b[3] ^= 0xff;
    expectCode(() => FixedIndexReader.fromBuffer(b), "ERR_INDEX_MAGIC");
  });

  it("body that is not whole entries is ERR_INDEX_ENTRY_SIZE", () => {
    expectCode(() => FixedIndexReader.fromBuffer(Buffer.concat([good(), Buffer.alloc(5)])), "ERR_INDEX_ENTRY_SIZE");
  });

  it("entry count disagreeing with size/chunk_size is ERR_INDEX_COUNT", () => {
    expectCode(() => FixedIndexReader.fromBuffer(Buffer.concat([good(), Buffer.alloc(32)])), "ERR_INDEX_COUNT");
    const b = good();
    b.writeBigUInt64LE(100n, 64);
    expectCode(() => FixedIndexReader.fromBuffer(b), "ERR_INDEX_COUNT");
    expectCode(() => encodeFixedIndex({ size: 10, chunkSize: 4, digests: digests(2) }), "ERR_INDEX_COUNT");
  });

  it("zero chunk size is ERR_INDEX_CHUNK_SIZE", () => {
    const b = good();
    b.writeBigUInt64LE(0n, 72);
    expectCode(() => FixedIndexReader.fromBuffer(b), "ERR_INDEX_CHUNK_SIZE");
  });

  it("altered digest is ERR_INDEX_CSUM unless csum checking is off", async () => {
    const b = good();
    b[4096 + 40] ^= 1;
    expectCode(() => FixedIndexReader.fromBuffer(b), "ERR_INDEX_CSUM");
    expect(FixedIndexReader.fromBuffer(b, { verifyCsum: false }).chunkCount).toBe(3);
    const path = join(dir, "bad.fidx");
    await writeFile(path, b);
    await expectCodeAsync(FixedIndexReader.open(path), "ERR_INDEX_CSUM");
  });

  it("expectedSize and expectedCsum from the manifest cross-check the header", () => {
    const b = good();
    const r = FixedIndexReader.fromBuffer(b);
    expect(FixedIndexReader.fromBuffer(b, { expectedSize: 10, expectedCsum: r.indexCsum }).size).toBe(10);
    expectCode(() => FixedIndexReader.fromBuffer(b, { expectedSize: 11 }), "ERR_INDEX_SIZE");
    expectCode(() => FixedIndexReader.fromBuffer(b, { expectedCsum: Buffer.alloc(32) }), "ERR_INDEX_CSUM");
    // size 10 -> 11 keeps ceil(size / 4) = 3: only the manifest's size can catch it
    const c = good();
    c.writeBigUInt64LE(11n, 64);
    expect(FixedIndexReader.fromBuffer(c).size).toBe(11);
    expectCode(() => FixedIndexReader.fromBuffer(c, { expectedSize: 10 }), "ERR_INDEX_SIZE");
  });
});
