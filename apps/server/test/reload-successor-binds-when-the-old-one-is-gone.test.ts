// A reload's successor asks the old generation for its listener over IPC. If the old process is
// killed during the handover, the channel closes: the successor used to crash on the closed
// channel (ERR_IPC_CHANNEL_CLOSED, a stack trace in the log) and no server was left. Now it binds
// the address itself. Here the "old generation" is this test, which closes the channel at once.

import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CLI, type DaemonSetup, killAll, setupDaemon, track, version, waitFor } from "./daemon.js";

describe("reload successor without its parent", () => {
  let d: DaemonSetup;
  afterAll(async () => {
    await killAll(d);
    if (d) fs.rmSync(d.dir, { recursive: true, force: true });
  });

  it("binds the address itself and serves when the previous generation is gone before the handover", async () => {
    d = await setupDaemon(fs.mkdtempSync(path.join(os.tmpdir(), "cairn-successor-")));
    const proc = spawn(process.execPath, [CLI, "start", "--config", d.config.dir, "--listen", `127.0.0.1:${d.port}`, "--log-file", d.logFile, "--workers", "1"], {
      stdio: ["ignore", "ignore", "pipe", "ipc"],
      env: { ...process.env, CAIRN_SERVER_HANDOVER: "1", CAIRN_SERVER_GENERATION: "2" },
    });
    track(proc.pid!);
    let stderr = "";
    proc.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    // the parent goes away (as a killed old generation does) before answering anything
    proc.disconnect();
    const pid = await waitFor(
      `the successor to answer (stderr: ${stderr})`,
      () => {
        if (proc.exitCode !== null) throw new Error(`successor exited with ${proc.exitCode}: ${stderr}`);
        return version(d).then(
          (v) => v,
          () => undefined,
        );
      },
      20_000,
    );
    expect(pid).toBe(proc.pid);
    const log = fs.readFileSync(d.logFile, "utf8");
    expect(log).toContain("went away before handing over its listener; binding the address anew");
    expect(log).not.toMatch(/ERR_IPC_CHANNEL_CLOSED|Unhandled 'error' event/);
    expect(stderr).not.toMatch(/ERR_IPC_CHANNEL_CLOSED/);
  });
});
