// Graceful restart: a backup throttled to last several seconds runs while `cairn-server reload`
// hands the listener to a new process. The backup finishes on the old process and reads back
// intact; a backup started after the reload is served by the new pid; no request fails; the old
// process exits once its session ended; the pid file and the log name both generations.

import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { BackupReader, BackupWriter, CairnClient, connectTrusted, resolveEndpoint } from "@cairn/protocol";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readPidFile } from "../src/pid-file.js";
import { CLI, type DaemonSetup, isRunning, killAll, setupDaemon, startDaemon, track, version, waitFor } from "./daemon.js";
import { makeChunk } from "./helpers.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (c: Buffer) => (stdout += c));
    p.stderr.on("data", (c: Buffer) => (stderr += c));
    p.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Opens a backup session by hand to read the x-cairn-pid header of the upgrade answer. */
async function sessionPid(d: DaemonSetup, backupId: string): Promise<number> {
  const ep = resolveEndpoint(d.conn);
  const socket = await connectTrusted(ep.host, ep.port, ep.trust);
  const qs = new URLSearchParams({ store: "store1", "backup-type": "host", "backup-id": backupId, "backup-time": String(Math.floor(Date.now() / 1000)) });
  const ws = new WebSocket(`wss://127.0.0.1:${d.port}/api2/json/backup?${qs}`, { createConnection: () => socket, headers: ep.authHeaders });
  const pid = await new Promise<number>((resolve, reject) => {
    ws.once("upgrade", (res) => resolve(Number(res.headers["x-cairn-pid"])));
    ws.once("unexpected-response", (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once("error", reject);
  });
  ws.close(4499, "probe done");
  return pid;
}

async function restore(d: DaemonSetup, backupId: string, backupTime: number): Promise<Buffer> {
  const r = await BackupReader.open({ ...d.conn, store: "store1", backupType: "host", backupId, backupTime });
  const parts: Buffer[] = [];
  for await (const b of r.readArchive("data.didx")) parts.push(b);
  await r.close();
  return Buffer.concat(parts);
}

describe("cairn-server reload", () => {
  let dir: string;
  let d: DaemonSetup;

  beforeAll(async () => {
    dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "cairn-reload-"));
    d = await setupDaemon(dir);
  });

  afterAll(async () => {
    await killAll(d);
    await fs.promises.rm(dir, { recursive: true, force: true });
  });

  it("keeps a running backup alive across a reload and serves new sessions from the new process", async () => {
    const first = await startDaemon(d);
    expect(await version(d)).toBe(first.pid);

    // Backup 1: 48 chunks of 32 KiB with a pause after each: runs for about five seconds.
    const t1 = Math.floor(Date.now() / 1000);
    const chunks = Array.from({ length: 48 }, (_, i) => makeChunk(32 * 1024, 1000 + i));
    const w1 = await BackupWriter.start({ ...d.conn, store: "store1", backupType: "host", backupId: "slow", backupTime: t1 });
    const idx = await w1.createDynamicIndex("data.didx");
    // REST traffic all through the reload: a fresh connection per request, and a keep-alive
    // client; none may fail, and answers come from both generations.
    const seenPids = new Set<number>();
    let polling = true;
    const keepAlive = new CairnClient(d.conn);
    const pollErrors: string[] = [];
    const poller = (async () => {
      let n = 0;
      while (polling) {
        await version(d).then(
          (pid) => seenPids.add(pid),
          (e: Error) => pollErrors.push(`fresh: ${e.message}`),
        );
        await keepAlive.listSnapshots("store1").catch((e: Error) => pollErrors.push(`keep-alive: ${e.message}`));
        n++;
        await sleep(20);
      }
      return n;
    })();
    let reload: Promise<{ code: number | null; stdout: string; stderr: string }> | undefined;
    for (let i = 0; i < chunks.length; i++) {
      await idx.addChunk(chunks[i].digest, chunks[i].data.length, chunks[i].blob);
      if (i === 8) reload = runCli(["reload", "--config", d.config.dir, "--output-format", "json"]);
      await sleep(100);
    }
    const r = await reload!;
    await waitFor(`the poller to reach the new generation (errors: ${pollErrors.join("; ")})`, () => seenPids.size > 1 || pollErrors.length > 0 || undefined, 30_000);
    polling = false;
    expect(await poller).toBeGreaterThan(10);
    expect(pollErrors).toEqual([]);
    await keepAlive.close();
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const { "old-pid": oldPid, "new-pid": newPid } = JSON.parse(r.stdout) as { "old-pid": number; "new-pid": number };
    track(newPid);
    expect(oldPid).toBe(first.pid);
    expect(newPid).not.toBe(oldPid);
    expect([...seenPids].sort()).toEqual([oldPid, newPid].sort());
    expect(readPidFile(d.pidFile)).toBe(newPid);
    // The old process still serves backup 1; new connections reach the new one.
    expect(isRunning(oldPid)).toBe(true);
    expect(await version(d)).toBe(newPid);
    expect(await sessionPid(d, "probe")).toBe(newPid);

    // Backup 2 while backup 1 is still open: served by the new process.
    const t2 = Math.floor(Date.now() / 1000);
    const other = [makeChunk(20_000, 7), makeChunk(30_000, 8)];
    const w2 = await BackupWriter.start({ ...d.conn, store: "store1", backupType: "host", backupId: "after-reload", backupTime: t2 });
    const idx2 = await w2.createDynamicIndex("data.didx");
    for (const c of other) await idx2.addChunk(c.digest, c.data.length, c.blob);
    await idx2.close();
    await w2.finish();

    await idx.close();
    await w1.finish();
    await waitFor("old generation to exit", () => !isRunning(oldPid) || undefined, 20_000, 100);

    expect((await restore(d, "slow", t1)).equals(Buffer.concat(chunks.map((c) => c.data)))).toBe(true);
    expect((await restore(d, "after-reload", t2)).equals(Buffer.concat(other.map((c) => c.data)))).toBe(true);
    const api = new CairnClient(d.conn);
    try {
      const tasks = await api.listTasks({ limit: 100 });
      const backup2 = tasks.find((t) => t.type === "backup" && t.worker.includes("after-reload"));
      expect(backup2?.upid.split(":")[2]).toBe(newPid.toString(16).toUpperCase().padStart(8, "0"));
      const upid = await api.verify("store1", {});
      const status = await api.waitTask(upid);
      expect(status.exitstatus).toBe("OK");
    } finally {
      await api.close();
    }

    const log = fs.readFileSync(d.logFile, "utf8").trim().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { pid: number; generation: number; msg: string });
    expect(log.some((l) => l.pid === oldPid && l.generation === 1 && l.msg.includes("old generation done"))).toBe(true);
    expect(log.some((l) => l.pid === newPid && l.generation === 2 && l.msg === "listening")).toBe(true);
  });

  it("SIGTERM ends an old generation that is still draining; its unfinished backup is removed", async () => {
    const before = readPidFile(d.pidFile)!;
    const t3 = Math.floor(Date.now() / 1000) + 10;
    const w = await BackupWriter.start({ ...d.conn, store: "store1", backupType: "host", backupId: "cut", backupTime: t3 });
    const idx = await w.createDynamicIndex("data.didx");
    const c = makeChunk(10_000, 99);
    await idx.addChunk(c.digest, c.data.length, c.blob);
    const r = await runCli(["reload", "--config", d.config.dir, "--output-format", "json"]);
    expect(r.code, r.stderr).toBe(0);
    const { "new-pid": next } = JSON.parse(r.stdout) as { "new-pid": number };
    track(next);
    expect(isRunning(before)).toBe(true);
    process.kill(before, "SIGTERM");
    await waitFor("the draining generation to stop", () => !isRunning(before) || undefined, 15_000, 50);
    await expect(w.finish()).rejects.toThrow();
    const api = new CairnClient(d.conn);
    try {
      expect((await api.listSnapshots("store1", { "backup-id": "cut" })).length).toBe(0);
    } finally {
      await api.close();
    }
    expect(await version(d)).toBe(next);
  });

  it("reload without a running daemon is a clear error", async () => {
    await killAll(d);
    const r = await runCli(["reload", "--config", d.config.dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not running|no pid file/);
  });
});
