// The daemon's pid file (default `<config>/cairn-server.pid`): `reload` finds the running daemon
// through it, and after a reload the new generation writes its own pid, so the file always names
// the process that owns the listener. Written tmp + rename, so a reader never sees half a pid.

import fs from "node:fs";
import path from "node:path";
import { ProtocolError } from "@cairn/protocol";
import { writeAtomic } from "./config.js";

export const PID_FILE_NAME = "cairn-server.pid";

export function defaultPidFile(configDir: string): string {
  return path.join(configDir, PID_FILE_NAME);
}

export function readPidFile(file: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  const pid = Number(text.split("\n")[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export function writePidFile(file: string, pid = process.pid): void {
  writeAtomic(file, `${pid}\n`);
}

/** Removes the file only if it still names `pid` (a successor may have taken it over). */
export function removePidFileIfOwn(file: string, pid = process.pid): void {
  if (readPidFile(file) === pid) fs.rmSync(file, { force: true });
}

/** The process exists and is not a zombie (a reloaded daemon's old generation may wait unreaped). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return true;
  }
}

/** The pid of a live daemon named by the file, or a typed error explaining why there is none. */
export function runningDaemonPid(file: string): number {
  const pid = readPidFile(file);
  if (pid === undefined) throw new ProtocolError("ERR_NOT_FOUND", `no pid file ${file}: is cairn-server running with this config?`);
  if (!isAlive(pid)) throw new ProtocolError("ERR_NOT_FOUND", `pid file ${file} names process ${pid}, which is not running`);
  return pid;
}
