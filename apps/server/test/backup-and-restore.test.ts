import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BackupReader, BackupWriter } from "@cairn/protocol";
import { type TestServer, makeChunk, startTestServer } from "./helpers.js";

describe("backup and restore through the session protocol", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t.close();
  });

  const base = () => ({ ...t.conn, store: "store1", auth: t.admin, backupType: "host" as const, backupId: "web1" });

  it("uploads an archive and reads it back byte-identical; a second backup uploads only new chunks", async () => {
    const chunks = Array.from({ length: 20 }, (_, i) => makeChunk(10_000 + i * 100));
    const w = await BackupWriter.start({ ...base(), backupTime: 1_700_000_000 });
    expect(await w.previousBackupTime()).toBeNull();
    const h = await w.createDynamicIndex("root.pxar.didx");
    for (const c of chunks) await h.addChunk(c.digest, c.data.length, c.blob);
    const closed = await h.close();
    expect(closed.chunkCount).toBe(20);
    await w.finish();
    expect(w.stats.uploadedChunks).toBe(20);

    const r = await BackupReader.open({ ...base(), backupTime: 1_700_000_000 });
    const parts: Buffer[] = [];
    for await (const b of r.readArchive("root.pxar.didx")) parts.push(b);
    expect(Buffer.concat(parts).equals(Buffer.concat(chunks.map((c) => c.data)))).toBe(true);
    const ra = await r.randomAccess("root.pxar.didx");
    const all = Buffer.concat(chunks.map((c) => c.data));
    expect(ra.size).toBe(all.length);
    expect((await ra.read(12_345, 50_000)).equals(all.subarray(12_345, 62_345))).toBe(true);
    const m = await r.manifest();
    expect((m.files as unknown[]).length).toBe(1);
    await r.close();

    // Second backup: 18 old chunks + 2 new ones.
    const more = [makeChunk(7777), makeChunk(8888)];
    const next = [...chunks.slice(2), ...more];
    const w2 = await BackupWriter.start({ ...base(), backupTime: 1_700_000_100 });
    expect(await w2.previousBackupTime()).toBe(1_700_000_000);
    await w2.downloadPrevious("root.pxar.didx");
    expect(w2.knownChunks.size).toBe(20);
    const h2 = await w2.createDynamicIndex("root.pxar.didx");
    for (const c of next) await h2.addChunk(c.digest, c.data.length, c.blob);
    await h2.close();
    await w2.finish();
    expect(w2.stats.uploadedChunks).toBe(2);
    expect(w2.stats.uploadedBytes).toBe(more[0].blob.length + more[1].blob.length);
    expect(w2.stats.knownChunks).toBe(18);
    expect(w2.stats.reusedBytes).toBe(chunks.slice(2).reduce((s, c) => s + c.data.length, 0));

    const r2 = await BackupReader.open({ ...base(), backupTime: 1_700_000_100 });
    const parts2: Buffer[] = [];
    for await (const b of r2.readArchive("root.pxar.didx")) parts2.push(b);
    expect(Buffer.concat(parts2).equals(Buffer.concat(next.map((c) => c.data)))).toBe(true);
    await r2.close();
  });

  it("stores fixed indexes and blobs", async () => {
    const cs = 4096;
    const chunks = [makeChunk(cs), makeChunk(cs), makeChunk(1000)];
    const size = cs * 2 + 1000;
    const w = await BackupWriter.start({ ...base(), backupId: "img", backupType: "vm", backupTime: 1_700_000_000 });
    const h = await w.createFixedIndex("drive-scsi0.img.fidx", size, { chunkSize: cs });
    for (const c of chunks) await h.addChunk(c.digest, c.data.length, c.blob);
    await h.close();
    const { encodeBlob } = await import("@cairn/format");
    await w.uploadBlob("qemu-server.conf.blob", encodeBlob(Buffer.from("memory: 2048\n"), { compress: true }));
    await w.finish();
    const r = await BackupReader.open({ ...base(), backupId: "img", backupType: "vm", backupTime: 1_700_000_000 });
    const ra = await r.randomAccess("drive-scsi0.img.fidx");
    expect(ra.size).toBe(size);
    expect((await ra.read(cs - 10, 20)).equals(Buffer.concat([chunks[0].data.subarray(cs - 10), chunks[1].data.subarray(0, 10)]))).toBe(true);
    const conf = await r.download("qemu-server.conf.blob");
    const { decodeBlob } = await import("@cairn/format");
    expect(decodeBlob(conf).toString()).toBe("memory: 2048\n");
    await r.close();
  });

  it("round-trips encrypted chunks (the server checks CRC and sizes only)", async () => {
    const { CryptConfig, encodeBlob } = await import("@cairn/format");
    const crypt = new CryptConfig(CryptConfig.generateKey());
    const plain = [Buffer.alloc(5000, 7), Buffer.alloc(3000, 9)];
    const w = await BackupWriter.start({ ...base(), backupId: "secret", backupTime: 1_700_000_000 });
    const h = await w.createDynamicIndex("enc.didx", { cryptMode: "encrypt" });
    for (const d of plain) await h.addChunk(crypt.computeDigest(d), d.length, encodeBlob(d, { crypt, compress: true }));
    await h.close();
    await w.finish();
    const r = await BackupReader.open({ ...base(), backupId: "secret", backupTime: 1_700_000_000, crypt });
    const parts: Buffer[] = [];
    for await (const b of r.readArchive("enc.didx")) parts.push(b);
    expect(Buffer.concat(parts).equals(Buffer.concat(plain))).toBe(true);
    await r.close();
  });
});
