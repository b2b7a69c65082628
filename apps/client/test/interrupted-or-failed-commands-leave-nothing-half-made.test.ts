// Ctrl-C (SIGINT) and SIGTERM during a backup or restore, and an image restore that fails midway:
// one ERR_INTERRUPTED line saying what is left, exit 130 / 143, no unfinished snapshot on the
// server and no partial file on the client (image, or the file a tree restore was writing).

import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { FixedIndexReader, encodeDynamicIndex } from "@cairn/format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, startCli, startTestServer, type TestServer } from "./helpers.js";

const LINE = /^cairn: error: ERR_INTERRUPTED: stopped by (SIGINT|SIGTERM): [^\n]+\n$/;

/** Resolves once `check` holds, polling every few ms (fails the test after `ms`). */
async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Snapshot folders of a group folder (which also holds its `owner` file). */
const subdirs = (d: string): string[] =>
  fs.existsSync(d) ? fs.readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name) : [];

describe("interrupted and failed commands", () => {
  let t: TestServer;
  let src: string;
  let image: string;
  beforeAll(async () => {
    t = await startTestServer();
    src = path.join(t.dir, "src");
    fs.mkdirSync(src);
    // incompressible and unique, so reading, chunking and uploading it takes a while
    fs.writeFileSync(path.join(src, "big.bin"), crypto.randomBytes(192 << 20));
    for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(src, `a${i}.txt`), `small file ${i}\n`.repeat(100));
    image = path.join(t.dir, "disk.raw");
    fs.writeFileSync(image, crypto.randomBytes(96 << 20));
  });
  afterAll(async () => {
    await t?.close();
  });

  for (const [sig, status] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    it(`a backup stopped by ${sig} says no snapshot was made, and the server keeps none`, async () => {
      const id = `stop-${sig.toLowerCase()}`;
      const group = path.join(t.dir, "store1", "host", id);
      const run = startCli(["backup", `root.cxar:${src}`, "--backup-id", id], t.env);
      // the snapshot folder appears when the session opens, before any data is read
      await until(() => subdirs(group).length > 0, 30_000, "the snapshot folder");
      run.child.kill(sig);
      const r = await run.done;
      expect(r.code).toBe(status);
      expect(r.stderr).toMatch(LINE);
      expect(r.stderr).toMatch(/no snapshot was made/);
      await until(() => subdirs(group).length === 0, 10_000, "the server to remove the unfinished snapshot");
      const list = await runCli(["snapshots", `host/${id}`, "--output-format", "json"], t.env);
      expect(JSON.parse(list.stdout)).toEqual([]);
    });
  }

  it("gc prints its task log as it runs, and Ctrl-C stops the task on the server", async () => {
    // 1500 indexes naming 30 missing chunks each: a GC long enough to be stopped mid-run
    const snap = path.join(t.dir, "store1", "host", "many", "2023-11-14T22:13:20Z");
    fs.mkdirSync(snap, { recursive: true });
    for (let f = 0; f < 1500; f++) {
      const entries = Array.from({ length: 30 }, (_, i) => ({ end: (i + 1) * 4096, digest: crypto.randomBytes(32) }));
      fs.writeFileSync(path.join(snap, `a${f}.didx`), encodeDynamicIndex({ entries }));
    }
    try {
      const run = startCli(["gc"], t.env);
      let out = "";
      run.child.stdout?.on("data", (c: Buffer) => {
        out += c.toString();
      });
      await until(() => /starting task (UPID:\S+)/.test(out), 30_000, "the task's first log line");
      const upid = /starting task (UPID:\S+)/.exec(out)![1];
      run.child.kill("SIGINT");
      const r = await run.done;
      expect(r.code).toBe(130);
      expect(r.stderr).toMatch(LINE);
      expect(r.stderr).toContain(`task ${upid} was stopped on the server`);
      let state = "running";
      for (let i = 0; i < 100 && state === "running"; i++) {
        state = JSON.parse((await runCli(["task", "log", upid, "--output-format", "json"], t.env)).stdout).status.state;
        if (state === "running") await new Promise((res) => setTimeout(res, 100));
      }
      expect(state).toBe("aborted");
    } finally {
      fs.rmSync(path.join(t.dir, "store1", "host", "many"), { recursive: true, force: true });
    }
  });

  it("a file-tree restore stopped midway keeps the finished files and removes the one being written", async () => {
    const b = await runCli(["backup", `root.cxar:${src}`, "--backup-id", "tree"], t.env);
    expect(b.code).toBe(0);
    const target = path.join(t.dir, "tree-out");
    const run = startCli(["restore", "host/tree", "root.cxar", target], t.env);
    // big.bin is created after the small files (names in byte order) and takes a while to write
    await until(() => fs.existsSync(path.join(target, "big.bin")), 30_000, "big.bin to be created");
    run.child.kill("SIGINT");
    const r = await run.done;
    expect(r.code).toBe(130);
    // the extractor's warning for the file it removed, naming it, then the one error line
    const lines = r.stderr.trimEnd().split("\n");
    expect(`${lines.at(-1)}\n`).toMatch(LINE);
    expect(lines.at(-1)).toMatch(/the file being written was removed/);
    for (const l of lines.slice(0, -1)) expect(l).toBe("cairn: warning: big.bin: partial file removed (the restore was stopped by SIGINT)");
    expect(fs.existsSync(path.join(target, "big.bin"))).toBe(false);
    for (const name of fs.readdirSync(target)) expect(fs.readFileSync(path.join(target, name)).equals(fs.readFileSync(path.join(src, name))), name).toBe(true);
    expect(fs.readdirSync(target).sort()).toEqual(["a0.txt", "a1.txt", "a2.txt", "a3.txt", "a4.txt"]);
  });

  it("an image restore stopped midway removes the partial image", async () => {
    const b = await runCli(["backup", `disk.img:${image}`, "--backup-id", "img"], t.env);
    expect(b.code).toBe(0);
    const target = path.join(t.dir, "restored.raw");
    const run = startCli(["restore", "host/img", "disk.img", target], t.env);
    await until(() => fs.existsSync(target), 30_000, "the target file");
    run.child.kill("SIGINT");
    const r = await run.done;
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(LINE);
    expect(r.stderr).toMatch(/partial image removed/);
    expect(fs.existsSync(target)).toBe(false);
  });

  it("an image that shrinks while it is backed up is one ERR_SOURCE line and no snapshot", async () => {
    const shrinking = path.join(t.dir, "shrinking.raw");
    fs.writeFileSync(shrinking, crypto.randomBytes(128 << 20));
    const group = path.join(t.dir, "store1", "host", "shrink");
    const run = startCli(["backup", `disk.img:${shrinking}`, "--backup-id", "shrink"], t.env);
    // cut it short once the first 16 MiB are read (rchar of /proc/PID/io), while the chunks read
    // are being uploaded: the reads in flight then fail with no one waiting for them yet
    const readSoFar = () => Number(/^rchar: (\d+)$/m.exec(fs.readFileSync(`/proc/${run.child.pid}/io`, "utf8"))?.[1] ?? 0);
    await until(() => readSoFar() > 16 << 20, 30_000, "16 MiB to be read");
    fs.truncateSync(shrinking, 1 << 20);
    const r = await run.done;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^cairn: error: ERR_SOURCE: [^\n]*shrinking\.raw ended at \d+, expected \d+ bytes[^\n]*\n$/);
    await until(() => subdirs(group).length === 0, 10_000, "the server to remove the unfinished snapshot");
  });

  it("an image restore that fails on a damaged chunk leaves no partial image", async () => {
    const snapDir = path.join(t.dir, "store1", "host", "img");
    const [time] = subdirs(snapDir);
    const idx = FixedIndexReader.fromBuffer(fs.readFileSync(path.join(snapDir, time, "disk.img.fidx")));
    expect(idx.chunkCount).toBeGreaterThan(4);
    // damage the last chunk: everything before it restores first
    const digest = Buffer.from(idx.digest(idx.chunkCount - 1)).toString("hex");
    const chunk = path.join(t.dir, "store1", ".chunks", digest.slice(0, 4), digest);
    const raw = fs.readFileSync(chunk);
    raw[raw.length - 100] ^= 0xff;
    fs.writeFileSync(chunk, raw);
    const target = path.join(t.dir, "damaged.raw");
    const r = await runCli(["restore", "host/img", "disk.img", target], t.env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^cairn: error: ERR_[A-Z_]+: [^\n]+\n$/);
    expect(fs.existsSync(target)).toBe(false);
  });
});
