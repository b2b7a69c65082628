// Test helpers: a real cairn server on 127.0.0.1 (random port) with a datastore, an admin token
// and the env a `cairn` child process needs; plus running the built CLI as users get it (`node dist/bundle/cairn.js`, the bundle bin/cairn.js loads).

import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigDir, type RunningServer, createDatastore, createToken, createUser, setAcl, startServer } from "@cairn/server";

export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../dist/bundle/cairn.js");

export interface TestServer {
  srv: RunningServer;
  dir: string;
  repository: string;
  env: Record<string, string>;
  connection: { repository: string; fingerprint: string };
  close(): Promise<void>;
}

export async function startTestServer(): Promise<TestServer> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "cairn-client-test-"));
  const config = new ConfigDir(path.join(dir, "config"));
  config.ensure();
  await createDatastore(config, "store1", path.join(dir, "store1"), { lazyChunkFolders: true });
  createUser(config, "admin@pbs", "password123");
  const secret = createToken(config, "admin@pbs!t");
  setAcl(config, { path: "/", role: "Admin", authId: "admin@pbs" });
  setAcl(config, { path: "/", role: "Admin", authId: "admin@pbs!t" });
  const srv = await startServer({ configDir: config.dir, listen: "127.0.0.1:0", workers: 1, lazyChunkFolders: true });
  const repository = `admin@pbs!t@127.0.0.1:${srv.port}:store1`;
  const env = {
    CAIRN_REPOSITORY: repository,
    CAIRN_PASSWORD: secret,
    CAIRN_FINGERPRINT: srv.fingerprint,
    XDG_CONFIG_HOME: path.join(dir, "xdg"),
  };
  return {
    srv,
    dir,
    repository,
    env,
    connection: { repository, fingerprint: srv.fingerprint },
    async close() {
      await srv.close();
      await fs.promises.rm(dir, { recursive: true, force: true });
    },
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/bundle/cairn.js ARGS` with a clean environment plus `env`. */
export function runCli(args: string[], env: Record<string, string | undefined> = {}, cwd?: string): Promise<CliResult> {
  return startCli(args, env, cwd).done;
}

/** As `runCli`, with the child process at hand (to signal it while it runs). */
export function startCli(args: string[], env: Record<string, string | undefined> = {}, cwd?: string): { child: ChildProcess; done: Promise<CliResult> } {
  const base: Record<string, string> = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? os.tmpdir() };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) base[k] = v;
  const child = spawn(process.execPath, [CLI, ...args], { env: base, cwd, stdio: ["ignore", "pipe", "pipe"] });
  const done = new Promise<CliResult>((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
  return { child, done };
}

/** A small tree with text, binary, an empty file, a symlink, a subdirectory and odd modes. */
export async function makeTree(root: string, seed = 1): Promise<void> {
  await fs.promises.mkdir(path.join(root, "sub/deeper"), { recursive: true });
  await fs.promises.writeFile(path.join(root, "hello.txt"), "hello world\n");
  await fs.promises.writeFile(path.join(root, "empty"), "");
  const big = Buffer.alloc(3 << 20);
  let x = seed;
  for (let i = 0; i < big.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    big[i] = x >>> 24;
  }
  await fs.promises.writeFile(path.join(root, "sub/random.bin"), big);
  for (let i = 0; i < 20; i++) await fs.promises.writeFile(path.join(root, `sub/deeper/f${i}.txt`), `file ${i}\n`.repeat(100 + i));
  await fs.promises.symlink("hello.txt", path.join(root, "link"));
  await fs.promises.chmod(path.join(root, "hello.txt"), 0o640);
  await fs.promises.utimes(path.join(root, "hello.txt"), 1_600_000_000, 1_600_000_000);
}

/** Compares two trees: names, types, content, mode, mtime (ms), symlink targets. */
export async function compareTrees(a: string, b: string): Promise<string[]> {
  const diffs: string[] = [];
  const walk = async (rel: string) => {
    const pa = path.join(a, rel);
    const pb = path.join(b, rel);
    const sa = await fs.promises.lstat(pa);
    const sb = await fs.promises.lstat(pb).catch(() => undefined);
    if (!sb) return void diffs.push(`missing ${rel}`);
    if (sa.mode !== sb.mode) diffs.push(`mode ${rel}: ${sa.mode.toString(8)} vs ${sb.mode.toString(8)}`);
    if (!sa.isDirectory() && !sa.isSymbolicLink() && Math.abs(sa.mtimeMs - sb.mtimeMs) > 1) diffs.push(`mtime ${rel}`);
    if (sa.isSymbolicLink()) {
      if ((await fs.promises.readlink(pa)) !== (await fs.promises.readlink(pb))) diffs.push(`link ${rel}`);
    } else if (sa.isFile()) {
      if (!(await fs.promises.readFile(pa)).equals(await fs.promises.readFile(pb))) diffs.push(`content ${rel}`);
    } else if (sa.isDirectory()) {
      const na = (await fs.promises.readdir(pa)).sort();
      const nb = (await fs.promises.readdir(pb)).sort();
      if (na.join("/") !== nb.join("/")) diffs.push(`entries ${rel}: ${na} vs ${nb}`);
      for (const n of na) await walk(path.join(rel, n));
    }
  };
  await walk("");
  return diffs;
}
