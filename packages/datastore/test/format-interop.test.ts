// The datastore and @cairn/format agree on indexes and manifests:
// indexes written here open with format's readers, format's writers' output is marked by GC and
// checked by verify, and a signed manifest stays valid after verify updates `unprotected`.
import { randomBytes } from "node:crypto";
import { CryptConfig, DynamicIndexReader, DynamicIndexWriter, FixedIndexReader, FixedIndexWriter, Manifest } from "@cairn/format";
import { afterEach, describe, expect, it } from "vitest";
import { ageAll, chunks, entriesOf, tmpStore } from "./helpers/util.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

const T = 1_763_800_000;

describe("interop with @cairn/format", () => {
  it("indexes written by the backup writer open with format's readers", async () => {
    const { store, cleanup } = await tmpStore();
    cleanups.push(cleanup);
    const list = chunks(4, 1000);
    const w = await store.openBackup({ type: "vm", id: "1", time: T, owner: "root@pam" });
    for (const c of list) await w.insertChunk(c.digest, c.blob);
    const d = await w.writeDynamicIndex("a.didx", entriesOf(list));
    const f = await w.writeFixedIndex("b.fidx", 3500, 1000, list.map((c) => Buffer.from(c.digest, "hex")));
    const dr = await DynamicIndexReader.open(w.archivePath("a.didx"));
    expect(dr.indexCsum.equals(d.csum)).toBe(true);
    expect(dr.size).toBe(4000);
    expect(dr.chunkInfo(2).digest.toString("hex")).toBe(list[2].digest);
    const fr = await FixedIndexReader.open(w.archivePath("b.fidx"));
    expect(fr.indexCsum.equals(f.csum)).toBe(true);
    expect(fr.chunkInfo(3)).toMatchObject({ start: 3000, end: 3500 });
    await w.abort();
  });

  it("indexes from format's writers and a signed format Manifest: GC marks, verify checks, signature survives", async () => {
    const { store, cleanup } = await tmpStore();
    cleanups.push(cleanup);
    const crypt = new CryptConfig(randomBytes(32));
    const list = chunks(3, 1024);
    const w = await store.openBackup({ type: "vm", id: "100", time: T, owner: "root@pam" });
    for (const c of list) await w.insertChunk(c.digest, c.blob);
    const dw = await DynamicIndexWriter.create(w.archivePath("root.pxar.didx"));
    let end = 0;
    for (const c of list) await dw.add((end += c.data.length), Buffer.from(c.digest, "hex"));
    const dres = await dw.close();
    const fw = await FixedIndexWriter.create(w.archivePath("disk.img.fidx"), { size: 3072, chunkSize: 1024 });
    for (const c of list) await fw.add(Buffer.from(c.digest, "hex"));
    const fres = await fw.close();
    const m = new Manifest({ backupType: "vm", backupId: "100", backupTime: T });
    m.addFile("root.pxar.didx", dres.size, dres.csum);
    m.addFile("disk.img.fidx", fres.size, fres.csum);
    m.sign(crypt);
    await w.finish(m.toBlob(crypt));

    const snap = { type: "vm" as const, id: "100", time: T };
    expect(store.snapshotInfo(snap)).toMatchObject({ finished: true, size: 3072 + 3072 });
    ageAll(store, list, 7200);
    const st = await store.garbageCollection({ atimeSafetySeconds: 0, graceSeconds: 0 });
    expect(st).toMatchObject({ indexFileCount: 2, removedChunks: 0, diskChunks: 3, indexDataBytes: 6144 });
    const r = await store.verify();
    expect(r.ok).toBe(true);
    const raw = await import("node:fs").then((fs) => fs.readFileSync(store.layout.manifestPath(snap)));
    const back = Manifest.fromBlob(raw, { crypt, requireSignature: true });
    expect(back.verifyState).toEqual({ state: "ok", upid: r.upid });
  });
});
