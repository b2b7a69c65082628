import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { CryptConfig, encodeBlob } from "@cairn/format";
import { afterEach, describe, expect, it } from "vitest";
import { ageChunk, makeChunk, randomChunk, tmpStore } from "./helpers/util.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup() {
  const t = await tmpStore();
  cleanups.push(t.cleanup);
  return t;
}

const tmpFiles = (dir: string) => fs.readdirSync(dir).filter((n) => n.includes(".tmp_"));

describe("chunk insertion follows the spec", () => {
  it("stores a new chunk under .chunks/<4 hex>/<digest> and reads it back", async () => {
    const { store, dir } = await setup();
    const c = randomChunk(2000);
    expect(await store.insertChunk(c.digest, c.blob)).toEqual({ existed: false, size: c.blob.length, replaced: false });
    const p = path.join(dir, ".chunks", c.digest.slice(0, 4), c.digest);
    expect(fs.readFileSync(p)).toEqual(c.blob);
    expect(await store.readChunk(c.digest)).toEqual(c.blob);
    expect(store.statChunk(c.digest)?.size).toBe(c.blob.length);
    expect(tmpFiles(path.dirname(p))).toEqual([]);
  });

  it("an existing chunk of the same size is reported as already there; atime moves, mtime stays", async () => {
    const { store } = await setup();
    const c = randomChunk();
    await store.insertChunk(c.digest, c.blob);
    ageChunk(store, c.digest, 3 * 86400);
    const before = store.statChunk(c.digest)!;
    expect(await store.insertChunk(c.digest, c.blob)).toEqual({ existed: true, size: c.blob.length });
    const after = store.statChunk(c.digest)!;
    expect(after.atimeMs).toBeGreaterThan(before.atimeMs + 86400_000);
    expect(Math.abs(after.atimeMs - Date.now())).toBeLessThan(5000);
    expect(Math.abs(after.mtimeMs - before.mtimeMs)).toBeLessThan(0.01);
  });

  it("an empty existing file is overwritten", async () => {
    const { store } = await setup();
    const c = randomChunk();
    const p = store.layout.chunkPath(c.digest);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, "");
    expect(await store.insertChunk(c.digest, c.blob)).toMatchObject({ existed: false, replaced: true });
    expect(fs.readFileSync(p)).toEqual(c.blob);
  });

  it("refuses an encrypted chunk over a plain one (ERR_CHUNK_ENCRYPTED_OVER_PLAIN)", async () => {
    const { store } = await setup();
    const c = randomChunk(800);
    await store.insertChunk(c.digest, c.blob);
    const crypt = new CryptConfig(randomBytes(32));
    const enc = encodeBlob(c.data, { crypt });
    expect(enc.length).not.toBe(c.blob.length);
    await expect(store.insertChunk(c.digest, enc)).rejects.toMatchObject({ code: "ERR_CHUNK_ENCRYPTED_OVER_PLAIN" });
    expect(await store.readChunk(c.digest)).toEqual(c.blob);
  });

  it("of two encodings keeps the smaller one", async () => {
    const { store } = await setup();
    const data = Buffer.alloc(4000, 7);
    const plain = makeChunk(data, false);
    const compressed = makeChunk(data, true);
    expect(compressed.blob.length).toBeLessThan(plain.blob.length);
    await store.insertChunk(plain.digest, plain.blob);
    expect(await store.insertChunk(plain.digest, compressed.blob)).toMatchObject({ existed: false, replaced: true });
    expect(await store.readChunk(plain.digest)).toEqual(compressed.blob);
    expect(await store.insertChunk(plain.digest, plain.blob)).toEqual({ existed: true, size: compressed.blob.length });
    expect(await store.readChunk(plain.digest)).toEqual(compressed.blob);
  });

  it("refuses bytes that are not a data blob and reports missing chunks", async () => {
    const { store } = await setup();
    await expect(store.insertChunk("a".repeat(64), Buffer.from("not a blob at all"))).rejects.toMatchObject({ code: "ERR_BAD_CHUNK" });
    await expect(store.readChunk("b".repeat(64))).rejects.toMatchObject({ code: "ERR_NOT_FOUND" });
    expect(store.statChunk("b".repeat(64))).toBeNull();
  });

  it("concurrent writers of the same chunk are fine and leave no temp files", async () => {
    const { store } = await setup();
    const c = randomChunk(64 * 1024);
    const results = await Promise.all(Array.from({ length: 8 }, () => store.insertChunk(c.digest, c.blob)));
    expect(results.every((r) => r.size === c.blob.length)).toBe(true);
    expect(await store.readChunk(c.digest)).toEqual(c.blob);
    expect(tmpFiles(path.dirname(store.layout.chunkPath(c.digest)))).toEqual([]);
  });

  it("chunks above the synchronous-write limit take the asynchronous path", async () => {
    const { store } = await setup();
    const c = randomChunk(1536 * 1024);
    expect(await store.insertChunk(c.digest, c.blob)).toMatchObject({ existed: false, size: c.blob.length });
    expect(await store.readChunk(c.digest)).toEqual(c.blob);
    expect(tmpFiles(path.dirname(store.layout.chunkPath(c.digest)))).toEqual([]);
  });

  it("with fsync level 'file' chunks are written the same way", async () => {
    const { dir } = await setup();
    const { DataStore } = await import("../src/index.js");
    const s = await DataStore.open(dir, { fsync: "file" });
    const c = randomChunk();
    expect(await s.insertChunk(c.digest, c.blob)).toMatchObject({ existed: false });
    expect(await s.readChunk(c.digest)).toEqual(c.blob);
  });
});
