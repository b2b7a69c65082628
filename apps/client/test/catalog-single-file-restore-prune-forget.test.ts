import fs from "node:fs";
import path from "node:path";
import { decodeBlob } from "@cairn/format";
import { BackupReader, BackupWriter } from "@cairn/protocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTree, runCli, startTestServer, type TestServer } from "./helpers.js";

describe("catalog, single-file restore, listings, prune and forget", () => {
  let t: TestServer;
  let src: string;
  const times = [1_700_000_000, 1_700_003_600, 1_700_090_000, 1_700_180_000];
  beforeAll(async () => {
    t = await startTestServer();
    src = path.join(t.dir, "src");
    await makeTree(src, 5);
    for (const [i, time] of times.entries()) {
      const mode = i % 2 === 0 ? "legacy" : "metadata";
      const r = await runCli(["backup", `root.cxar:${src}`, "--backup-id", "cat", "--backup-time", String(time), "--change-detection-mode", mode], t.env);
      expect(r.stderr).toBe("");
      expect(r.stdout).toMatch(/total .* uploaded .* re-used/);
    }
  });
  afterAll(async () => {
    await t?.close();
  });
  /** Connection options for a session of the test server's admin token on store1, host group. */
  const session = () => ({
    port: t.srv.port,
    host: "127.0.0.1",
    fingerprint: t.srv.fingerprint,
    auth: { tokenId: "admin@pbs!t", secret: t.env.CAIRN_PASSWORD },
    store: "store1",
    backupType: "host" as const,
  });

  it("lists groups and snapshots as JSON and as tables", async () => {
    const g = await runCli(["list", "--output-format", "json"], t.env);
    const groups = JSON.parse(g.stdout);
    expect(groups).toEqual([expect.objectContaining({ "backup-type": "host", "backup-id": "cat", "backup-count": 4 })]);
    const s = await runCli(["snapshots", "host/cat", "--output-format", "json"], t.env);
    expect(JSON.parse(s.stdout).map((x: { "backup-time": number }) => x["backup-time"])).toEqual(times);
    const text = await runCli(["snapshots"], t.env);
    expect(text.stdout).toContain("host/cat/2023-11-14T22:13:20Z");
    expect(text.stdout.split("\n")[0]).toMatch(/^snapshot\s+size/);
  });

  it("lists a directory through the catalog (legacy and split snapshots)", async () => {
    for (const snap of ["host/cat/2023-11-14T22:13:20Z", "host/cat/2023-11-14T23:13:20Z"]) {
      const r = await runCli(["catalog", "ls", snap, "/sub", "--output-format", "json"], t.env);
      expect(r.stderr).toBe("");
      const l = JSON.parse(r.stdout);
      expect(l.entries.map((e: { name: string }) => e.name)).toEqual(["deeper", "random.bin"]);
      expect(l.entries[1]).toMatchObject({ type: "file", size: 3 << 20 });
    }
    const root = await runCli(["catalog", "ls", "host/cat"], t.env);
    expect(root.stdout).toMatch(/hello\.txt/);
    const missing = await runCli(["catalog", "ls", "host/cat", "/nope"], t.env);
    expect(missing.stderr).toMatch(/^cairn: error: ERR_ARCHIVE_MISSING: /);
  });

  it("restores a single file and a subtree through the catalog", async () => {
    for (const snap of ["host/cat/1700000000", "host/cat/1700003600"]) {
      const dest = path.join(t.dir, `one-${snap.split("/")[2]}`);
      const r = await runCli(["restore", snap, "root.cxar", dest, "--path", "/sub/deeper/f3.txt"], t.env);
      expect(r.stderr).toBe("");
      expect(await fs.promises.readFile(dest, "utf8")).toBe(await fs.promises.readFile(path.join(src, "sub/deeper/f3.txt"), "utf8"));
      const sub = path.join(t.dir, `sub-${snap.split("/")[2]}`);
      const r2 = await runCli(["restore", snap, "root.cxar", sub, "--path", "sub"], t.env);
      expect(r2.stderr).toBe("");
      expect((await fs.promises.readFile(path.join(sub, "random.bin"))).equals(await fs.promises.readFile(path.join(src, "sub/random.bin")))).toBe(true);
    }
  });

  it("prunes (dry run first) and forgets", async () => {
    const dry = await runCli(["prune", "host/cat", "--keep-last", "2", "--dry-run", "--output-format", "json"], t.env);
    expect(dry.stderr).toBe("");
    const plan = JSON.parse(dry.stdout) as Array<{ "backup-time": number; keep: boolean }>;
    expect(plan.filter((e) => e.keep).map((e) => e["backup-time"]).sort()).toEqual(times.slice(2));
    let s = JSON.parse((await runCli(["snapshots", "--output-format", "json"], t.env)).stdout);
    expect(s).toHaveLength(4);

    const real = await runCli(["prune", "host/cat", "--keep-last", "2"], t.env);
    expect(real.stderr).toBe("");
    expect(real.stdout).toMatch(/removed/);
    s = JSON.parse((await runCli(["snapshots", "--output-format", "json"], t.env)).stdout);
    expect(s.map((x: { "backup-time": number }) => x["backup-time"])).toEqual(times.slice(2));

    const f = await runCli(["forget", "host/cat/2023-11-17T00:13:20Z"], t.env);
    expect(f.stderr).toBe("");
    s = JSON.parse((await runCli(["snapshots", "--output-format", "json"], t.env)).stdout);
    expect(s.map((x: { "backup-time": number }) => x["backup-time"])).toEqual([times[2]]);
    const noGroup = await runCli(["forget", "host/cat"], t.env);
    expect(noGroup.stderr).toMatch(/^cairn: error: ERR_SNAPSHOT_SPEC: /);
  });

  it("prune says which snapshots it could not remove (held by a restore) instead of reporting them removed", async () => {
    const held = [1_700_000_000, 1_700_000_100, 1_700_000_200];
    for (const time of held) {
      expect((await runCli(["backup", `root.cxar:${src}`, "--backup-id", "held", "--backup-time", String(time)], t.env)).code).toBe(0);
    }
    // a reader session (what a restore opens) holds the oldest snapshot
    const reader = await BackupReader.open({
      ...session(),
      backupId: "held",
      backupTime: held[0],
    });
    try {
      const r = await runCli(["prune", "host/held", "--keep-last", "1"], t.env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^host\/held\/2023-11-14T22:13:20Z\s+not removed\s+remove$/m);
      expect(r.stdout).toMatch(/^host\/held\/2023-11-14T22:15:00Z\s+removed\s+remove$/m);
      expect(r.stderr).toMatch(/^cairn: warning: host\/held\/2023-11-14T22:13:20Z was not removed \(ERR_LOCKED: /m);
      const json = JSON.parse((await runCli(["prune", "host/held", "--keep-last", "1", "--output-format", "json"], t.env)).stdout);
      expect(json.find((e: { "backup-time": number }) => e["backup-time"] === held[0]).error).toMatch(/^ERR_LOCKED: /);
    } finally {
      await reader.close();
    }
    const again = await runCli(["prune", "host/held", "--keep-last", "1"], t.env);
    expect(again.stderr).toBe("");
    const left = JSON.parse((await runCli(["snapshots", "host/held", "--output-format", "json"], t.env)).stdout);
    expect(left.map((x: { "backup-time": number }) => x["backup-time"])).toEqual([held[2]]);
  });

  it("a backup still running is listed as unfinished", async () => {
    const w = await BackupWriter.start({
      ...session(),
      backupId: "running",
      backupTime: 1_700_000_000,
    });
    try {
      const r = await runCli(["snapshots", "host/running"], t.env);
      expect(r.stdout).toMatch(/^host\/running\/2023-11-14T22:13:20Z\s+unfinished\s/m);
      expect(JSON.parse((await runCli(["snapshots", "host/running", "--output-format", "json"], t.env)).stdout)[0].finished).toBe(false);
    } finally {
      await w.abort();
    }
  });

  it("runs gc, verify and status, and shows a task log", async () => {
    const gc = await runCli(["gc", "--output-format", "json"], t.env);
    expect(gc.stderr).toBe("");
    const g = JSON.parse(gc.stdout);
    expect(g.status.state).not.toBe("running");
    // the log says how far each phase got, a line per 10%, as PBS's GC log does
    expect(g.log).toContain("phase 2: sweeping unused chunks");
    expect(g.log.filter((l: string) => /^marked \d+% \(\d+ of \d+ index files\)$/.test(l)).at(-1)).toMatch(/^marked 100% /);
    expect(g.log.filter((l: string) => l.startsWith("swept "))).toHaveLength(10);
    expect(g.log.indexOf("phase 2: sweeping unused chunks")).toBeGreaterThan(g.log.findIndex((l: string) => l.startsWith("phase 1: marking the chunks of")));
    const v = await runCli(["verify", "--output-format", "json"], t.env);
    expect(v.stderr).toBe("");
    const st = await runCli(["status", "--output-format", "json"], t.env);
    expect(JSON.parse(st.stdout)).toHaveProperty("used");
    const log = await runCli(["task", "log", g.upid], t.env);
    expect(log.stderr).toBe("");
    expect(log.stdout).toMatch(/state: /);
    // task ids have PBS's shape, which PBS parses when it reads a manifest's verify state
    const PBS_UPID = /^UPID:[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?:[0-9A-Fa-f]{8}:[0-9A-Fa-f]{8,9}:[0-9A-Fa-f]{8,16}:[0-9A-Fa-f]{8}:[^:\s]+:[^:\s]*:[^:\s]+:$/;
    expect(g.upid).toMatch(PBS_UPID);
    const manifests: string[] = [];
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory() && e.name !== ".chunks") walk(path.join(d, e.name));
        else if (e.name === "index.json.blob") manifests.push(path.join(d, e.name));
      }
    };
    walk(path.join(t.dir, "store1"));
    expect(manifests.length).toBeGreaterThan(0);
    for (const m of manifests) {
      const manifest = JSON.parse(decodeBlob(fs.readFileSync(m)).toString("utf8")) as { unprotected?: { verify_state?: { upid?: string } } };
      const state = manifest.unprotected?.verify_state;
      expect(state?.upid, m).toMatch(PBS_UPID);
    }
  });
});
