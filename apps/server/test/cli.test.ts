import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CairnClient } from "@cairn/protocol";

const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));

function run(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", input, env: { ...process.env, CAIRN_PASSWORD: "" }, timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("cairn-server CLI", () => {
  let dir: string;
  let cfg: string;
  beforeAll(async () => {
    dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "cairn-cli-test-"));
    cfg = path.join(dir, "config");
  });
  afterAll(async () => {
    await fs.promises.rm(dir, { recursive: true, force: true });
  });

  it("manages users, tokens, ACLs and datastores in the config folder, JSON output", () => {
    let r = run(["user", "create", "alice@pbs", "--password", "--config", cfg, "--output-format", "json"], "secret-password\n");
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual({ userid: "alice@pbs" });
    expect(fs.statSync(cfg).mode & 0o777).toBe(0o700);
    r = run(["token", "create", "alice@pbs!backup", "--config", cfg, "--output-format", "json"]);
    const tok = JSON.parse(r.stdout);
    expect(tok.tokenid).toBe("alice@pbs!backup");
    expect(tok.value.length).toBeGreaterThan(20);
    expect(fs.readFileSync(path.join(cfg, "user.json"), "utf8")).not.toContain(tok.value);
    r = run(["acl", "set", "/datastore/main", "DatastoreBackup", "alice@pbs!backup", "--config", cfg, "--output-format", "json"]);
    expect(r.code).toBe(0);
    r = run(["acl", "list", "--config", cfg, "--output-format", "json"]);
    expect(JSON.parse(r.stdout)).toEqual([{ path: "/datastore/main", role: "DatastoreBackup", "auth-id": "alice@pbs!backup", propagate: true }]);
    r = run(["datastore", "list", "--config", cfg, "--output-format", "json"]);
    expect(JSON.parse(r.stdout)).toEqual([]);
  });

  it("deletes tokens and users with their ACL entries, so a token made again under the same name has no privileges", () => {
    const c = path.join(dir, "config-delete");
    const json = (args: string[]) => JSON.parse(run([...args, "--config", c, "--output-format", "json"]).stdout);
    run(["user", "create", "bob@pbs", "--config", c]);
    json(["token", "create", "bob@pbs!a"]);
    json(["token", "create", "bob@pbs!b"]);
    for (const id of ["bob@pbs", "bob@pbs!a", "bob@pbs!b"]) run(["acl", "set", "/datastore/main", "DatastoreBackup", id, "--config", c]);
    run(["acl", "set", "/datastore/main/ns1", "DatastoreReader", "bob@pbs", "--no-propagate", "--config", c]);
    expect(run(["acl", "list", "--config", c]).stdout).toMatch(/\/datastore\/main\/ns1\s+DatastoreReader\s+bob@pbs {2}\(no propagate\)/);
    expect(json(["token", "delete", "bob@pbs!a"])).toEqual({ removed: ["bob@pbs!a"] });
    expect(json(["acl", "list"]).map((e: { "auth-id": string }) => e["auth-id"]).sort()).toEqual(["bob@pbs", "bob@pbs", "bob@pbs!b"]);
    json(["token", "create", "bob@pbs!a"]);
    expect(json(["acl", "list"]).some((e: { "auth-id": string }) => e["auth-id"] === "bob@pbs!a")).toBe(false);
    expect(json(["user", "delete", "bob@pbs"]).removed.sort()).toEqual(["bob@pbs", "bob@pbs!a", "bob@pbs!b"]);
    expect(json(["acl", "list"])).toEqual([]);
    expect(json(["user", "list"])).toEqual([]);
    const gone = run(["token", "delete", "bob@pbs!a", "--config", c]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^cairn-server: error: ERR_NOT_FOUND: token bob@pbs!a does not exist/);
    expect(run(["token", "delete", "bob@pbs", "--config", c]).stderr).toMatch(/ERR_BAD_REQUEST: "bob@pbs" is not a token id/);
  });

  it("prints one clear line and exits non-zero on user mistakes", () => {
    for (const args of [
      ["user", "create", "bad/name", "--config", cfg],
      ["user", "create", "alice@pbs", "--config", cfg],
      ["token", "create", "nobody@pbs!x", "--config", cfg],
      ["acl", "set", "/etc", "Admin", "alice@pbs", "--config", cfg],
      ["acl", "set", "/", "Superuser", "alice@pbs", "--config", cfg],
      ["cert", "fingerprint", "--config", path.join(dir, "nowhere")],
      ["datastore", "list"],
      ["datastore", "create", "bad name", path.join(dir, "x"), "--config", cfg],
      // /proc refuses new folders with ENOENT, where Node 20's recursive mkdir spins for ever
      ["datastore", "create", "proc", "/proc/cairn-test/store", "--config", cfg],
      ["user", "create", "bob@pbs", "--config", "/proc/cairn-test/config"],
      ["start", "--listen", "127.0.0.1:0", "--log-file", "/proc/cairn-test/log", "--config", cfg],
      ["start", "--listen", "127.0.0.1:0", "--log-level", "loud", "--config", cfg],
      ["start", "--listen", "127.0.0.1:99999", "--config", cfg],
      ["frobnicate"],
      ["user", "create", "--no-such-flag"],
    ]) {
      const r = run(args);
      expect(r.code, args.join(" ")).not.toBe(0);
      const lines = r.stderr.trim().split("\n");
      expect(lines.length, r.stderr).toBe(1);
      // a code and a message, as the client prints them
      expect(r.stderr, args.join(" ")).toMatch(/^cairn-server: error: ERR_[A-Z0-9_]+: \S/);
      expect(r.stderr).not.toMatch(/ERR_INTERNAL/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    // a command-line mistake exits 2
    expect(run(["frobnicate"]).code).toBe(2);
    expect(run(["start", "--listen", "nonsense", "--config", cfg]).code).toBe(2);
    expect(run(["start", "--log-level", "loud", "--config", cfg]).code).toBe(2);
  });

  it("starts the daemon, prints the fingerprint, serves, and stops on SIGTERM", async () => {
    const store = path.join(dir, "store");
    expect(run(["datastore", "create", "main", store, "--lazy-chunk-folders", "--config", cfg]).code).toBe(0);
    const child = spawn(process.execPath, [CLI, "start", "--config", cfg, "--listen", "127.0.0.1:0", "--log-file", path.join(dir, "server.log")], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no start: ${err}`)), 20_000);
      child.stderr.on("data", () => {
        const m = /listening on (\S+)\nfingerprint: (\S+)/.exec(err);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
    });
    const fp = /fingerprint: (\S+)/.exec(err)![1];
    expect(run(["cert", "fingerprint", "--config", cfg]).stdout.trim()).toBe(fp);
    const { client } = await CairnClient.login({ url, fingerprint: fp, username: "alice@pbs", password: "secret-password" });
    expect((await client.version()).version).toBeTruthy();
    await client.close();
    const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
