import { createHash, randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  DYNAMIC_INDEX_MAGIC,
  DynamicIndexReader,
  DynamicIndexWriter,
  encodeDynamicIndex,
  encodeFixedIndex,
} from "../src/index.js";
import { expectCode, expectCodeAsync, tempDir } from "./helpers.js";

const digest = (i: number) => createHash("sha256").update(`chunk ${i}`).digest();

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

describe("dynamic index file layout", () => {
  it("a written .didx has magic, uuid, ctime, csum, zeros, then end|digest entries", async () => {
    const path = join(dir, "root.pxar.didx");
    const uuid = randomBytes(16);
    const ends = [100, 250, 4000];
    const w = await DynamicIndexWriter.create(path, { uuid, ctime: 1_600_000_000 });
    for (const [i, e] of ends.entries()) await w.add(e, digest(i));
    const result = await w.close();
    const bytes = await readFile(path);
    expect(bytes.length).toBe(4096 + 3 * 40);
    expect(bytes.subarray(0, 8).equals(DYNAMIC_INDEX_MAGIC)).toBe(true);
    expect(bytes.subarray(8, 24).equals(uuid)).toBe(true);
    expect(bytes.readBigInt64LE(24)).toBe(1_600_000_000n);
    const h = createHash("sha256");
    ends.forEach((e, i) => {
      const le = Buffer.alloc(8);
      le.writeBigUInt64LE(BigInt(e));
      h.update(le).update(digest(i));
    });
    const csum = h.digest();
    expect(bytes.subarray(32, 64).equals(csum)).toBe(true);
    expect(bytes.subarray(64, 4096).every((b) => b === 0)).toBe(true);
    ends.forEach((e, i) => {
      const at = 4096 + i * 40;
      expect(bytes.readBigUInt64LE(at)).toBe(BigInt(e));
      expect(bytes.subarray(at + 8, at + 40).equals(digest(i))).toBe(true);
    });
    expect(result).toMatchObject({ size: 4000, chunkCount: 3 });
    expect(result.csum.equals(csum)).toBe(true);
    expect(await readdir(dir)).toEqual(["root.pxar.didx"]);
  });
});

describe("dynamic index reader", () => {
  it("random access by chunk number and by byte offset", async () => {
    const path = join(dir, "a.didx");
    const ends: number[] = [];
    let end = 0;
    const w = await DynamicIndexWriter.create(path);
    for (let i = 0; i < 70_000; i++) {
      end += 1 + ((i * 7919) % 5000);
      ends.push(end);
      await w.add(end, digest(i % 100));
    }
    const { csum, size } = await w.close();
    const r = await DynamicIndexReader.open(path);
    expect(r.chunkCount).toBe(70_000);
    expect(r.size).toBe(size);
    expect(r.indexCsum.equals(csum)).toBe(true);
    expect(r.computeCsum().equals(csum)).toBe(true);
    expect(r.chunkInfo(0)).toMatchObject({ start: 0, end: ends[0] });
    expect(r.chunkInfo(1234)).toMatchObject({ start: ends[1233], end: ends[1234] });
    expect(r.chunkInfo(1234).digest.equals(digest(34))).toBe(true);
    for (const i of [0, 1, 999, 35_000, 69_999]) {
      const info = r.chunkInfo(i);
      expect(r.chunkFromOffset(info.start)).toBe(i);
      expect(r.chunkFromOffset(info.end - 1)).toBe(i);
    }
    expect(r.chunkFromOffset(size)).toBeUndefined();
    expect(r.chunkFromOffset(-1)).toBeUndefined();
    expect(r.uniqueDigests().size).toBe(100);
  });

  it("an empty archive has no entries and size 0", async () => {
    const path = join(dir, "empty.didx");
    const w = await DynamicIndexWriter.create(path);
    await w.close();
    const r = await DynamicIndexReader.open(path);
    expect(r.chunkCount).toBe(0);
    expect(r.size).toBe(0);
    expect(r.chunkFromOffset(0)).toBeUndefined();
  });

  it("encodeDynamicIndex equals the writer's bytes for the same identity", async () => {
    const path = join(dir, "b.didx");
    const entries = [10, 20, 35].map((end, i) => ({ end, digest: digest(i) }));
    const uuid = Buffer.alloc(16, 1);
    const w = await DynamicIndexWriter.create(path, { uuid, ctime: 42 });
    for (const e of entries) await w.add(e.end, e.digest);
    await w.close();
    expect((await readFile(path)).equals(encodeDynamicIndex({ uuid, ctime: 42, entries }))).toBe(true);
  });
});

describe("dynamic index writer", () => {
  it("refuses non-increasing offsets and bad digests without breaking", async () => {
    const w = await DynamicIndexWriter.create(join(dir, "c.didx"));
    await w.add(10, digest(0));
    await expectCodeAsync(w.add(10, digest(1)), "ERR_INDEX_OFFSETS");
    await expectCodeAsync(w.add(5, digest(1)), "ERR_INDEX_OFFSETS");
    await expectCodeAsync(w.add(20, Buffer.alloc(31)), "ERR_DIGEST_LENGTH");
    await w.add(20, digest(1));
    expect((await w.close()).chunkCount).toBe(2);
  });

  it("callers that do not await each add still get a complete, valid index", async () => {
    const path = join(dir, "e.didx");
    const w = await DynamicIndexWriter.create(path);
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 100_000; i++) pending.push(w.add((i + 1) * 10, digest(i % 7)));
    const { csum, chunkCount } = await w.close();
    await Promise.all(pending);
    const r = await DynamicIndexReader.open(path, { expectedCsum: csum });
    expect(chunkCount).toBe(100_000);
    expect(r.chunkInfo(99_999)).toMatchObject({ start: 999_990, end: 1_000_000 });
    expect(r.digest(54_321).equals(digest(54_321 % 7))).toBe(true);
  });

  it("abort removes name.tmp; a closed writer refuses more entries", async () => {
    const w = await DynamicIndexWriter.create(join(dir, "d.didx"));
    await w.add(1, digest(0));
    expect(await readdir(dir)).toEqual(["d.didx.tmp"]);
    await w.abort();
    expect(await readdir(dir)).toEqual([]);
    await expectCodeAsync(w.add(2, digest(1)), "ERR_WRITER_CLOSED");
  });
});

describe("dynamic index rejects bad files", () => {
  const good = () => encodeDynamicIndex({ entries: [10, 20, 30].map((end, i) => ({ end, digest: digest(i) })) });

  it("short header, wrong magic, fixed index given", () => {
    expectCode(() => DynamicIndexReader.fromBuffer(Buffer.alloc(100)), "ERR_INDEX_SHORT");
    const b = good();
    b[0] ^= 1;
    expectCode(() => DynamicIndexReader.fromBuffer(b), "ERR_INDEX_MAGIC");
    expectCode(() => DynamicIndexReader.fromBuffer(encodeFixedIndex({ size: 0, digests: [] })), "ERR_INDEX_MAGIC");
  });

  it("partial entry is ERR_INDEX_ENTRY_SIZE", () => {
    expectCode(() => DynamicIndexReader.fromBuffer(good().subarray(0, 4096 + 79)), "ERR_INDEX_ENTRY_SIZE");
  });

  it("decreasing or repeated offsets are ERR_INDEX_OFFSETS", () => {
    const b = good();
    b.writeBigUInt64LE(5n, 4096 + 40);
    expectCode(() => DynamicIndexReader.fromBuffer(b), "ERR_INDEX_OFFSETS");
    const c = good();
    c.writeBigUInt64LE(10n, 4096 + 40);
    expectCode(() => DynamicIndexReader.fromBuffer(c), "ERR_INDEX_OFFSETS");
    const z = good();
    z.writeBigUInt64LE(0n, 4096);
    expectCode(() => DynamicIndexReader.fromBuffer(z), "ERR_INDEX_OFFSETS");
  });

  it("altered csum or digest is ERR_INDEX_CSUM", () => {
    const b = good();
    b[40] ^= 1;
    expectCode(() => DynamicIndexReader.fromBuffer(b), "ERR_INDEX_CSUM");
    const c = good();
    c[4096 + 20] ^= 1;
    expectCode(() => DynamicIndexReader.fromBuffer(c), "ERR_INDEX_CSUM");
  });

  it("a whole number of entries appended with the same offsets is caught", () => {
    expectCode(() => DynamicIndexReader.fromBuffer(Buffer.concat([good(), good().subarray(4096, 4096 + 40)])), "ERR_INDEX_OFFSETS");
  });

  it("expectedSize and expectedCsum from the manifest cross-check the index", () => {
    const b = good();
    const r = DynamicIndexReader.fromBuffer(b, { expectedSize: 30, expectedCsum: DynamicIndexReader.fromBuffer(b).indexCsum });
    expect(r.size).toBe(30);
    expectCode(() => DynamicIndexReader.fromBuffer(b, { expectedSize: 31 }), "ERR_INDEX_SIZE");
    expectCode(() => DynamicIndexReader.fromBuffer(b, { expectedCsum: Buffer.alloc(32) }), "ERR_INDEX_CSUM");
  });
});
