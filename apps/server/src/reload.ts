// Graceful restart (PBS: "restarts must not abort running backup jobs"). On SIGHUP the running
// daemon aborts its GC (whose exclusive ProcessLocker would block the successor's backups),
// spawns the same command as a detached child and passes it the listening socket over IPC. Once
// the child listens and has written the pid file, the old process closes its listener, serves its
// running sessions and requests to the end, then exits; the child lives on as the daemon.

import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import type net from "node:net";
import { ProtocolError } from "@cairn/protocol";
import type { Logger } from "pino";
import { isAlive, readPidFile, runningDaemonPid } from "./pid-file.js";
import type { RunningServer } from "./server.js";

/** Set in the child's environment: wait for the listener over IPC instead of binding. */
export const HANDOVER_ENV = "CAIRN_SERVER_HANDOVER";
/** The child's restart generation (1 = first start). */
export const GENERATION_ENV = "CAIRN_SERVER_GENERATION";

export const HANDOVER_TIMEOUT_MS = 30_000;

type Message = { type: "want-listener" } | { type: "listener" } | { type: "ready"; pid: number };

export function currentGeneration(): number {
  const g = Number(process.env[GENERATION_ENV] ?? 1);
  return Number.isInteger(g) && g >= 1 ? g : 1;
}

/**
 * Old generation: start the successor and hand it `listener`; resolves once it serves. On any
 * failure the child is killed and the caller keeps serving as before.
 */
export function spawnSuccessor(opts: { listener: net.Server; generation: number; logFile?: string; timeoutMs?: number }): Promise<ChildProcess> {
  // Logs of both generations go to one file; without --log-file the child shares our stdout.
  const out = opts.logFile ? fs.openSync(opts.logFile, "a") : "inherit";
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    // Detached: its own process group, so signals aimed at ours (a terminal's ^C, a supervisor
    // killing the old group) do not reach it, and our exit does not end it.
    detached: true,
    stdio: ["ignore", out, out, "ipc"],
    env: { ...process.env, [HANDOVER_ENV]: "1", [GENERATION_ENV]: String(opts.generation + 1) },
  });
  if (typeof out === "number") fs.closeSync(out);
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      cleanup();
      if (child.exitCode === null) child.kill("SIGKILL");
      reject(err);
    };
    const timer = setTimeout(() => fail(new ProtocolError("ERR_INTERNAL", `successor ${child.pid} not ready within ${opts.timeoutMs ?? HANDOVER_TIMEOUT_MS} ms`)), opts.timeoutMs ?? HANDOVER_TIMEOUT_MS);
    const onMessage = (m: Message) => {
      if (m?.type === "want-listener") {
        child.send({ type: "listener" } satisfies Message, opts.listener, (err) => {
          if (err) fail(new ProtocolError("ERR_INTERNAL", `cannot pass the listener to ${child.pid}: ${err.message}`));
        });
      } else if (m?.type === "ready") {
        cleanup();
        // The child must outlive us: drop the IPC channel and our reference to it.
        child.disconnect();
        child.unref();
        resolve(child);
      }
    };
    const onExit = (code: number | null, signal: string | null) =>
      fail(new ProtocolError("ERR_INTERNAL", `successor exited during the handover (code ${code}, signal ${signal})`));
    const onError = (err: Error) => fail(new ProtocolError("ERR_INTERNAL", `cannot start the successor: ${err.message}`));
    function cleanup() {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
      child.off("error", onError);
    }
    child.on("message", onMessage);
    child.on("exit", onExit);
    child.on("error", onError);
  });
}

/**
 * New generation: ask the parent for its listener and wait for it. Undefined when the parent went
 * away first (killed during the reload): its socket closed with it, so the caller binds the
 * address itself and the server stays up.
 */
export function receiveListener(timeoutMs = HANDOVER_TIMEOUT_MS): Promise<net.Server | undefined> {
  const send = process.send?.bind(process);
  if (!send) return Promise.reject(new ProtocolError("ERR_INTERNAL", `${HANDOVER_ENV} is set but there is no IPC channel to a parent`));
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      process.off("message", onMessage);
      process.off("disconnect", onGone);
    };
    const timer = setTimeout(() => {
      done();
      reject(new ProtocolError("ERR_INTERNAL", `no listener from the previous generation within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (m: Message, handle: unknown) => {
      if (m?.type !== "listener" || !handle) return;
      done();
      resolve(handle as net.Server);
    };
    const onGone = () => {
      done();
      resolve(undefined);
    };
    process.on("message", onMessage);
    process.once("disconnect", onGone);
    // a channel already closed answers through the callback (without one, through an 'error' event that ends the process)
    send({ type: "want-listener" } satisfies Message, undefined, {}, (err) => {
      if (err) onGone();
    });
  });
}

/** New generation: tell the parent we serve (it then closes its listener and drains). */
export function announceReady(): void {
  if (!process.connected) return;
  // the parent may be gone by now: this process serves all the same
  process.send?.({ type: "ready", pid: process.pid } satisfies Message, undefined, {}, () => {});
}

/**
 * Old generation, the whole sequence. Returns false (and keeps serving) if the successor could
 * not be started; otherwise drains, closes and resolves true — the caller exits.
 */
export async function handOver(srv: RunningServer, opts: { logger: Logger; logFile?: string }): Promise<boolean> {
  const { logger } = opts;
  logger.info("reload: aborting GC and starting the next generation");
  await srv.prepareHandover();
  let child: ChildProcess;
  try {
    child = await spawnSuccessor({ listener: srv.app.server, generation: srv.generation, logFile: opts.logFile });
  } catch (err) {
    srv.cancelHandover();
    logger.error({ err }, "reload failed; this process keeps serving");
    return false;
  }
  srv.stopAccepting();
  logger.info({ successor: child.pid }, "reload: listener handed over; finishing running sessions");
  await srv.drained();
  await srv.close();
  logger.info({ successor: child.pid }, "reload: old generation done, exiting");
  return true;
}

/** `cairn-server reload`: signal the daemon named by the pid file and wait for its successor. */
export async function requestReload(pidFile: string, timeoutMs = 60_000): Promise<{ oldPid: number; newPid: number }> {
  const oldPid = runningDaemonPid(pidFile);
  process.kill(oldPid, "SIGHUP");
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    const pid = readPidFile(pidFile);
    if (pid !== undefined && pid !== oldPid && isAlive(pid)) return { oldPid, newPid: pid };
  }
  throw new ProtocolError("ERR_INTERNAL", `no new generation took over within ${timeoutMs / 1000} s (see the server log; pid ${oldPid} keeps serving if it is alive)`);
}
