import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, runCli, startTestServer, type TestServer } from "./helpers.js";

const LINE = /^cairn: error: (ERR_[A-Z0-9_]+): [^\n]+\n$/;

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("CLI errors", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t?.close();
  });

  const expectError = (r: { code: number; stderr: string; stdout: string }, code: string, text?: RegExp) => {
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(LINE);
    expect(LINE.exec(r.stderr)![1]).toBe(code);
    if (text) expect(r.stderr).toMatch(text);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  };

  it("a bad repository string", async () => {
    expectError(await runCli(["snapshots", "--repository", "host:99999:store"], { CAIRN_PASSWORD: "x" }), "ERR_REPOSITORY", /not a port/);
    expectError(await runCli(["list"], { CAIRN_REPOSITORY: "::1:store", CAIRN_PASSWORD: "x" }), "ERR_REPOSITORY", /brackets/);
  });

  it("no repository at all", async () => {
    expectError(await runCli(["list"], { CAIRN_PASSWORD: "x" }), "ERR_REPOSITORY", /CAIRN_REPOSITORY/);
  });

  it("a missing secret", async () => {
    expectError(await runCli(["list"], { ...t.env, CAIRN_PASSWORD: undefined }), "ERR_NO_SECRET", /CAIRN_PASSWORD/);
  });

  it("connection refused on a closed port", async () => {
    const port = await closedPort();
    const env = { ...t.env, CAIRN_REPOSITORY: `admin@pbs!t@127.0.0.1:${port}:store1` };
    expectError(await runCli(["list"], env), "ERR_CONNECTION", /ECONNREFUSED/);
    expectError(await runCli(["list"], { ...env, CAIRN_FINGERPRINT: undefined }), "ERR_CONNECTION", /ECONNREFUSED/);
  });

  it("a wrong fingerprint", async () => {
    const wrong = "AB:".repeat(31) + "AB";
    expectError(await runCli(["list"], { ...t.env, CAIRN_FINGERPRINT: wrong }), "ERR_FINGERPRINT", /does not match/);
  });

  it("an unknown fingerprint without a TTY shows the server's fingerprint", async () => {
    const r = await runCli(["list"], { ...t.env, CAIRN_FINGERPRINT: undefined });
    expectError(r, "ERR_FINGERPRINT_UNKNOWN");
    expect(r.stderr).toContain(t.srv.fingerprint);
  });

  it("a wrong secret", async () => {
    expectError(await runCli(["list"], { ...t.env, CAIRN_PASSWORD: "nope" }), "ERR_AUTH");
  });

  it("usage mistakes", async () => {
    expectError(await runCli(["backup", "nocolon"], t.env), "ERR_USAGE", /NAME\.cxar:PATH/);
    expectError(await runCli(["frobnicate"], t.env), "ERR_USAGE");
    expectError(await runCli(["restore", "host/x/notatime", "root.cxar", "/tmp/x"], t.env), "ERR_SNAPSHOT_SPEC");
    expectError(await runCli(["backup", "root.cxar:/definitely/not/here"], t.env), "ERR_SOURCE");
  });

  it("names, times, counts and task ids the server would refuse are named before anything is sent", async () => {
    // CAIRN_REPOSITORY points at a closed port: a check that ran after connecting would say ECONNREFUSED
    const env = { ...t.env, CAIRN_REPOSITORY: `admin@pbs!t@127.0.0.1:${await closedPort()}:store1` };
    const backup = ["backup", `root.cxar:${t.dir}`];
    expectError(await runCli([...backup, "--backup-id", "bad id"], env), "ERR_USAGE", /backup id "bad id" may hold only letters/);
    expectError(await runCli([...backup, "--backup-id", "..x"], env), "ERR_USAGE", /backup id "\.\.x"/);
    expectError(await runCli([...backup, "--backup-id", "x".repeat(129)], env), "ERR_USAGE", /longer than 128 characters/);
    expectError(await runCli([...backup, "--backup-time", "253402300800"], env), "ERR_USAGE", /after 9999-12-31/);
    expectError(await runCli(["list", "--ns", "a//b"], env), "ERR_USAGE", /level "" is empty/);
    expectError(await runCli(["list", "--ns", "a/b/c/d/e/f/g/h"], env), "ERR_USAGE", /8 levels; at most 7/);
    expectError(await runCli(["snapshots", "--ns", "-x"], env), "ERR_USAGE", /namespace "-x"/);
    expectError(await runCli(["status", "--ns", "a"], env), "ERR_USAGE", /unknown option '--ns'/);
    expectError(await runCli(["gc", "--ns", "a"], env), "ERR_USAGE", /unknown option '--ns'/);
    // an empty namespace is the root one, as in PBS: this one gets as far as connecting
    expectError(await runCli(["list", "--ns", ""], env), "ERR_CONNECTION", /ECONNREFUSED/);
    expectError(await runCli(["prune", "host/x", "--keep-last", "0"], env), "ERR_USAGE", /--keep-last expects a positive integer, got "0"/);
    expectError(await runCli(["task", "log", "garbage"], env), "ERR_USAGE", /"garbage" is not a task id/);
    expectError(await runCli(["snapshots", "host/.x"], env), "ERR_SNAPSHOT_SPEC", /"\.x" is not a backup id: it may hold only/);
    expectError(await runCli(backup, { ...env, CAIRN_POOL_DEPTH: "-1" }), "ERR_USAGE", /CAIRN_POOL_DEPTH="-1" must be a whole number from 1 to 64/);
    expectError(await runCli(backup, { ...env, CAIRN_WORKERS: "two" }), "ERR_USAGE", /CAIRN_WORKERS="two" must be a whole number from 1 to 64/);
    expectError(await runCli(backup, { ...env, CAIRN_UPLOAD_WINDOW: "0" }), "ERR_USAGE", /CAIRN_UPLOAD_WINDOW="0" must be a whole number from 1 to 64/);
    expectError(await runCli(backup, { ...env, CAIRN_UPLOAD_WINDOW: "1e1" }), "ERR_USAGE", /CAIRN_UPLOAD_WINDOW="1e1"/);
    expectError(await runCli(["list"], { ...env, CAIRN_SESSION_TIMEOUT: "0" }), "ERR_USAGE", /CAIRN_SESSION_TIMEOUT="0" must be a whole number from 1 to 86400/);
    expectError(await runCli(["restore", "host/x/2024-01-01T00:00:00Z", "root.cxar", t.dir], { ...env, CAIRN_WORKERS: "65" }), "ERR_USAGE", /CAIRN_WORKERS="65"/);
    // a command-line mistake exits 2, as commander's own ones do
    expect((await runCli([...backup, "--backup-id", "bad id"], env)).code).toBe(2);
    expect((await runCli(["backup", "--no-such-flag"], env)).code).toBe(2);
  });

  it("an exclude pattern that can match nothing is refused before any snapshot is made", async () => {
    const args = (glob: string) => ["backup", `root.cxar:${t.dir}`, "--backup-id", "badglob", "--exclude", "*.tmp", "--exclude", glob];
    expectError(await runCli(args("["), t.env), "ERR_ARCHIVE_BAD_PATTERN", /"\[" has a '\[' at position 1 with no closing '\]'/);
    expectError(await runCli(args("cache/[z-a]"), t.env), "ERR_ARCHIVE_BAD_PATTERN", /range z-a/);
    expectError(await runCli(args("foo\\"), t.env), "ERR_ARCHIVE_BAD_PATTERN", /lone backslash/);
    expectError(await runCli(args(""), t.env), "ERR_ARCHIVE_BAD_PATTERN", /is empty/);
    const list = await runCli(["snapshots", "--output-format", "json"], t.env);
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as { "backup-id": string }[]).filter((s) => s["backup-id"] === "badglob")).toEqual([]);
  });

  it("a warning names the entry it is about", async () => {
    const src = path.join(t.dir, "warn-src");
    fs.mkdirSync(path.join(src, "sub"), { recursive: true });
    fs.writeFileSync(path.join(src, "sub", ".cxarexclude"), "[z-a]\n");
    const r = await runCli(["backup", `root.cxar:${src}`, "--backup-id", "warn"], t.env);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^cairn: warning: sub\/\.cxarexclude: exclude pattern "\[z-a\]" has the range z-a/);
  });

  it("a target or key file where no folder can be made is an error, not a hang", async () => {
    // /proc refuses new folders with ENOENT, where Node 20's recursive mkdir spins for ever
    const src = path.join(t.dir, "proc-src");
    fs.mkdirSync(src, { recursive: true });
    fs.writeFileSync(path.join(src, "f"), "x\n");
    expect((await runCli(["backup", `root.cxar:${src}`, "--backup-id", "proc"], t.env)).code).toBe(0);
    expectError(await runCli(["restore", "host/proc", "root.cxar", "/proc/cairn-test/out"], t.env), "ERR_SYSTEM_ENOENT", /mkdir '\/proc\/cairn-test'/);
    expectError(await runCli(["key", "create", "/proc/cairn-test/key", "--kdf", "none"], t.env), "ERR_SYSTEM_ENOENT", /mkdir '\/proc\/cairn-test'/);
  });

  it("in a deleted working folder absolute paths work and relative ones are refused by name", async () => {
    const src = path.join(t.dir, "gone-src");
    fs.mkdirSync(src, { recursive: true });
    fs.writeFileSync(path.join(src, "small.txt"), "small\n");
    const gone = path.join(t.dir, "gone-cwd");
    fs.mkdirSync(gone);
    // the child starts in the folder, which is removed before it runs anything
    const sh = async (args: string[]) => {
      const quoted = args.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
      const child = spawn("sh", ["-c", `cd '${gone}' && rmdir '${gone}' && exec '${process.execPath}' '${CLI}' ${quoted}`], { env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...t.env } });
      let stderr = "";
      let stdout = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      const code = await new Promise<number>((r) => child.on("close", (c) => r(c ?? -1)));
      fs.mkdirSync(gone);
      return { code, stdout, stderr };
    };
    const b = await sh(["backup", `root.cxar:${src}`, "--backup-id", "gone"]);
    expect(b.code, b.stderr).toBe(0);
    const out = path.join(t.dir, "gone-out");
    const r = await sh(["restore", "host/gone", "root.cxar", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(path.join(out, "small.txt"), "utf8")).toBe("small\n");
    expectError(await sh(["restore", "host/gone", "root.cxar", "relative-out"]), "ERR_TARGET", /restore target "relative-out" is relative, but the current folder no longer exists/);
    expectError(await sh(["backup", "root.cxar:.", "--backup-id", "gone"]), "ERR_SOURCE", /source of root\.cxar "\." is relative/);
  });

  it("a key file that is a folder is named in the error", async () => {
    expectError(await runCli(["key", "show", t.dir], t.env), "ERR_KEY", new RegExp(`cannot read key file ${t.dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: EISDIR`));
  });

  it("an empty image is refused before anything is sent", async () => {
    const empty = path.join(t.dir, "empty.img");
    fs.writeFileSync(empty, "");
    expectError(await runCli(["backup", `disk.img:${empty}`, "--backup-id", "empty-img"], t.env), "ERR_SOURCE", /empty\.img is empty: an image needs at least one byte/);
    const list = await runCli(["snapshots", "--output-format", "json"], t.env);
    expect((JSON.parse(list.stdout) as { "backup-id": string }[]).filter((s) => s["backup-id"] === "empty-img")).toEqual([]);
  });

  it("a damaged index in the base snapshot is a warning naming it, and the next backups go on without it", async () => {
    const src = path.join(t.dir, "base-src");
    fs.mkdirSync(src, { recursive: true });
    fs.writeFileSync(path.join(src, "a.txt"), "a\n");
    const img = path.join(t.dir, "base.img");
    fs.writeFileSync(img, Buffer.alloc(100_000, 7));
    const args = ["backup", `disk.img:${img}`, `root.cxar:${src}`, "--backup-id", "damaged-base"];
    expect((await runCli([...args, "--backup-time", "1700000000"], t.env)).code).toBe(0);
    const base = path.join(t.dir, "store1", "host", "damaged-base", "2023-11-14T22:13:20Z");
    for (const f of ["disk.img.fidx", "root.cxar.didx"]) fs.truncateSync(path.join(base, f), 4100);
    for (const [time, mode] of [["1700000001", "legacy"], ["1700000002", "metadata"]]) {
      const r = await runCli([...args, "--backup-time", time, "--change-detection-mode", mode], t.env);
      expect(r.code, r.stderr).toBe(0);
      if (mode === "legacy") {
        expect(r.stderr).toMatch(/^cairn: warning: disk\.img\.fidx of the base snapshot host\/damaged-base\/2023-11-14T22:13:20Z cannot be used \(ERR_INDEX_ENTRY_SIZE: /m);
        expect(r.stderr).toMatch(/^cairn: warning: root\.cxar\.didx of the base snapshot .* backing it up without it$/m);
      }
    }
    const out = path.join(t.dir, "damaged-base-out");
    expect((await runCli(["restore", "host/damaged-base/2023-11-14T22:13:22Z", "disk.img", out], t.env)).code).toBe(0);
    expect(fs.readFileSync(out).equals(fs.readFileSync(img))).toBe(true);
  });

  it("a damaged chunk stops a restore with an error naming its digest, and no image is left behind", async () => {
    const chunkFiles = (): Set<string> => {
      const root = path.join(t.dir, "store1", ".chunks");
      return new Set(fs.readdirSync(root).flatMap((d) => (d.length === 4 ? fs.readdirSync(path.join(root, d)).map((f) => path.join(root, d, f)) : [])));
    };
    const src = path.join(t.dir, "damaged-src");
    fs.mkdirSync(src, { recursive: true });
    fs.writeFileSync(path.join(src, "random.bin"), crypto.randomBytes(300_000));
    const img = path.join(t.dir, "damaged.img");
    fs.writeFileSync(img, crypto.randomBytes(100_000));
    const before = chunkFiles();
    const args = ["backup", `disk.img:${img}`, `root.cxar:${src}`, "--backup-id", "damaged-chunk", "--backup-time", "1700000100"];
    expect((await runCli(args, t.env)).code).toBe(0);
    const added = [...chunkFiles()].filter((f) => !before.has(f));
    const imageDigest = crypto.createHash("sha256").update(fs.readFileSync(img)).digest("hex");
    expect(added.map((f) => path.basename(f))).toContain(imageDigest);
    for (const f of added) {
      const b = fs.readFileSync(f);
      b[b.length - 1] ^= 0xff;
      fs.writeFileSync(f, b);
    }
    const snap = "host/damaged-chunk/2023-11-14T22:15:00Z";
    const out = path.join(t.dir, "damaged-out.img");
    expectError(await runCli(["restore", snap, "disk.img", out], t.env), "ERR_BLOB_CRC", new RegExp(`chunk ${imageDigest} is damaged \\(`));
    expect(fs.existsSync(out)).toBe(false);
    const r = await runCli(["restore", snap, "root.cxar", path.join(t.dir, "damaged-out")], t.env);
    expectError(r, "ERR_BLOB_CRC", /chunk [0-9a-f]{64} is damaged/);
    const named = /chunk ([0-9a-f]{64})/.exec(r.stderr)![1];
    expect(added.map((f) => path.basename(f))).toContain(named);
  });

  it("a chunk of the base snapshot that verify of another group marked bad is uploaded again, with a warning", async () => {
    const img = path.join(t.dir, "shared.img");
    fs.writeFileSync(img, crypto.randomBytes(150_000));
    const digest = crypto.createHash("sha256").update(fs.readFileSync(img)).digest("hex");
    for (const id of ["sharedA", "sharedB"]) expect((await runCli(["backup", `disk.img:${img}`, "--backup-id", id, "--backup-time", "1700000200"], t.env)).code).toBe(0);
    const chunk = path.join(t.dir, "store1", ".chunks", digest.slice(0, 4), digest);
    const b = fs.readFileSync(chunk);
    b[b.length - 1] ^= 0xff;
    fs.writeFileSync(chunk, b);
    expectError(await runCli(["verify", "host/sharedA"], t.env), "ERR_VERIFY_FAILED");
    expect(fs.existsSync(chunk)).toBe(false);
    // sharedB's base still lists the chunk, and the image is unchanged: its index would be re-used as it is
    const r = await runCli(["backup", `disk.img:${img}`, "--backup-id", "sharedB", "--backup-time", "1700000300", "--output-format", "json"], t.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^cairn: warning: disk\\.img\\.fidx: chunk ${digest} of the previous snapshot is no longer in the datastore .*; backing up again without the base snapshot$`, "m"));
    expect(JSON.parse(r.stdout).newChunks).toBe(1);
    expect(fs.existsSync(chunk)).toBe(true);
    const out = path.join(t.dir, "shared-out.img");
    expect((await runCli(["restore", "host/sharedB/2023-11-14T22:18:20Z", "disk.img", out], t.env)).code).toBe(0);
    expect(fs.readFileSync(out).equals(fs.readFileSync(img))).toBe(true);
    const next = await runCli(["backup", `disk.img:${img}`, "--backup-id", "sharedB", "--backup-time", "1700000400"], t.env);
    expect(next.stderr).toBe("");
  });

  it("a failed server task ends with the task's own error code, not ERR_INTERNAL", async () => {
    const own = await startTestServer();
    try {
      const dir = path.join(own.dir, "store1", "host", "badindex", "2023-11-14T22:13:20Z");
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, "root.cxar.didx"), Buffer.alloc(100, 1));
      expectError(await runCli(["gc"], own.env), "ERR_BAD_INDEX", /garbage collection ended with: .*badindex.*root\.cxar\.didx/);
      fs.rmSync(path.join(own.dir, "store1", "host", "badindex"), { recursive: true, force: true });
      expect((await runCli(["gc"], own.env)).code).toBe(0);
    } finally {
      await own.close();
    }
  });

  it("an existing restore target is ERR_TARGET for trees and images alike", async () => {
    const src = path.join(t.dir, "target-src");
    fs.mkdirSync(src, { recursive: true });
    fs.writeFileSync(path.join(src, "a.txt"), "a\n");
    const img = path.join(t.dir, "target.img");
    fs.writeFileSync(img, Buffer.alloc(5000, 3));
    expect((await runCli(["backup", `root.cxar:${src}`, `disk.img:${img}`, "--backup-id", "targets"], t.env)).code).toBe(0);
    const full = path.join(t.dir, "target-full");
    fs.mkdirSync(full);
    fs.writeFileSync(path.join(full, "mine.txt"), "keep\n");
    expectError(await runCli(["restore", "host/targets", "root.cxar", full], t.env), "ERR_TARGET", /restore target is not empty/);
    expectError(await runCli(["restore", "host/targets", "root.cxar", path.join(full, "mine.txt")], t.env), "ERR_TARGET", /not a directory/);
    expectError(await runCli(["restore", "host/targets", "disk.img", path.join(full, "mine.txt")], t.env), "ERR_TARGET");
    expect(fs.readFileSync(path.join(full, "mine.txt"), "utf8")).toBe("keep\n");
  });

  it("a snapshot that does not exist", async () => {
    expectError(await runCli(["restore", "host/nothere", "root.cxar", `${t.dir}/x`], t.env), "ERR_NO_SNAPSHOT");
  });
});
