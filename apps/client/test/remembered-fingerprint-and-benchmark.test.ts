import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, startTestServer, type TestServer } from "./helpers.js";

describe("remembered fingerprints and the benchmark command", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t?.close();
  });

  it("uses a fingerprint remembered in $XDG_CONFIG_HOME/cairn/fingerprints.json", async () => {
    const env = { ...t.env, CAIRN_FINGERPRINT: undefined };
    expect((await runCli(["list"], env)).stderr).toMatch(/ERR_FINGERPRINT_UNKNOWN/);
    const file = path.join(t.env.XDG_CONFIG_HOME, "cairn", "fingerprints.json");
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    await fs.promises.writeFile(file, JSON.stringify({ [`127.0.0.1:${t.srv.port}`]: t.srv.fingerprint }));
    const r = await runCli(["list", "--output-format", "json"], env);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual([]);
    // A remembered fingerprint that no longer matches is a hard error, as with --fingerprint.
    await fs.promises.writeFile(file, JSON.stringify({ [`127.0.0.1:${t.srv.port}`]: "AB:".repeat(31) + "AB" }));
    expect((await runCli(["list"], env)).stderr).toMatch(/^cairn: error: ERR_FINGERPRINT: .*does not match/);
  });

  it("prints local figures and, with a repository, the upload speed, as JSON", async () => {
    const r = await runCli(["benchmark", "--output-format", "json"], t.env);
    expect(r.stderr).toBe("");
    const rows = JSON.parse(r.stdout) as Array<{ name: string; mbPerSecond: number }>;
    expect(rows.map((x) => x.name)).toEqual(expect.arrayContaining(["sha256", "zstd compress (level 1)", "zstd decompress", "aes-256-gcm", "chunker (content-defined)", "TLS upload to server"]));
    for (const x of rows) expect(x.mbPerSecond).toBeGreaterThan(0);
    const local = await runCli(["benchmark", "--output-format", "json"], { PATH: process.env.PATH });
    expect(JSON.parse(local.stdout).some((x: { name: string }) => x.name.startsWith("TLS"))).toBe(false);
  });
});
