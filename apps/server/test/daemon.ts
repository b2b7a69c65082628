// Test helper: a config folder with an admin token and a datastore, and the daemon run as a real
// child process (`node dist/cli.js start`) on a free loopback port, so that tests can reload,
// SIGKILL and restart it. Every process started here is tracked and killed by `killAll()`.

import { type ChildProcess, spawn } from "node:child_process";
import https from "node:https";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setAcl } from "../src/acl.js";
import { createToken, createUser } from "../src/auth.js";
import { ensureCertificate } from "../src/cert.js";
import { ConfigDir, FILES } from "../src/config.js";
import { defaultPidFile, isAlive, readPidFile } from "../src/pid-file.js";
import { createDatastore } from "../src/stores.js";

export const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));

export interface DaemonSetup {
  dir: string;
  config: ConfigDir;
  storePath: string;
  port: number;
  url: string;
  fingerprint: string;
  auth: { tokenId: string; secret: string };
  logFile: string;
  pidFile: string;
  conn: { url: string; fingerprint: string; auth: { tokenId: string; secret: string } };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address() as net.AddressInfo;
      s.close(() => resolve(a.port));
    });
  });
}

/** Config + admin token + datastore `store1` (lazy chunk folders) at `storePath` (default dir/store1). */
export async function setupDaemon(dir: string, opts: { storePath?: string; gc?: { atimeSafetySeconds: number; graceSeconds: number }; cleanupGraceSeconds?: number } = {}): Promise<DaemonSetup> {
  const config = new ConfigDir(path.join(dir, "config"));
  config.ensure();
  const storePath = opts.storePath ?? path.join(dir, "store1");
  await createDatastore(config, "store1", storePath, { lazyChunkFolders: true });
  if (opts.gc || opts.cleanupGraceSeconds !== undefined) {
    const all = config.datastores();
    all.store1 = { ...all.store1, ...(opts.gc ? { gcAtimeSafetySeconds: opts.gc.atimeSafetySeconds, gcGraceSeconds: opts.gc.graceSeconds } : {}), ...(opts.cleanupGraceSeconds !== undefined ? { cleanupGraceSeconds: opts.cleanupGraceSeconds } : {}) };
    config.writeJson(FILES.datastores, all);
  }
  createUser(config, "admin@pbs", "password123");
  const tokenId = "admin@pbs!t";
  const secret = createToken(config, tokenId);
  setAcl(config, { path: "/", role: "Admin", authId: "admin@pbs" });
  setAcl(config, { path: "/", role: "Admin", authId: tokenId });
  const tls = await ensureCertificate(config);
  const port = await freePort();
  const url = `https://127.0.0.1:${port}`;
  const auth = { tokenId, secret };
  return {
    dir,
    config,
    storePath,
    port,
    url,
    fingerprint: tls.fingerprint,
    auth,
    logFile: path.join(dir, "server.log"),
    pidFile: defaultPidFile(config.dir),
    conn: { url, fingerprint: tls.fingerprint, auth },
  };
}

const started = new Set<number>();

export async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Starts the daemon and waits until it answers; returns its process and pid. */
export async function startDaemon(d: DaemonSetup, extraArgs: string[] = []): Promise<{ proc: ChildProcess; pid: number }> {
  const before = readPidFile(d.pidFile);
  const proc = spawn(process.execPath, [CLI, "start", "--config", d.config.dir, "--listen", `127.0.0.1:${d.port}`, "--log-file", d.logFile, "--workers", "1", ...extraArgs], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  proc.stderr?.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const pid = proc.pid!;
  started.add(pid);
  await waitFor(`daemon ${pid} to write its pid file (stderr: ${stderr})`, () => {
    if (proc.exitCode !== null) throw new Error(`daemon exited with ${proc.exitCode}: ${stderr}`);
    const p = readPidFile(d.pidFile);
    return p === pid && p !== before ? p : undefined;
  });
  await waitFor("daemon to answer", () => version(d).then((v) => v === pid || undefined, () => undefined), 15_000);
  return { proc, pid };
}

/** The pid that answered GET /version (its x-cairn-pid header); a fresh connection each time. */
export function version(d: DaemonSetup): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      { host: "127.0.0.1", port: d.port, path: "/api2/json/version", agent: false, rejectUnauthorized: false, headers: { authorization: `CAIRNAPIToken ${d.auth.tokenId}:${d.auth.secret}` } },
      (res) => {
        res.resume();
        res.on("end", () => (res.statusCode === 200 ? resolve(Number(res.headers["x-cairn-pid"])) : reject(new Error(`HTTP ${res.statusCode}`))));
      },
    );
    req.on("error", reject);
    req.setTimeout(10_000, () => req.destroy(new Error("version request timed out")));
  });
}

/** Remembers a pid started indirectly (a reload's new generation) for killAll. */
export function track(pid: number): void {
  started.add(pid);
}

export function trackedPids(): number[] {
  return [...started];
}

/** Kills every daemon this helper started or was told about, and the one in the pid file. */
export async function killAll(d?: DaemonSetup): Promise<void> {
  if (d) {
    const p = readPidFile(d.pidFile);
    if (p !== undefined) started.add(p);
  }
  for (const pid of started) {
    if (isAlive(pid)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
  }
  await waitFor("daemons to exit", () => [...started].every((p) => !isAlive(p)) || undefined, 10_000).catch(() => {});
  started.clear();
}

export function isRunning(pid: number): boolean {
  return isAlive(pid);
}

