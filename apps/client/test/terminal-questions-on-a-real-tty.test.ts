// The questions cairn asks on a terminal, answered on a real pseudo-terminal (helpers/run-on-pty.py):
// an unknown server fingerprint is shown and, confirmed, remembered; refused, nothing is
// remembered; Ctrl-C at the question or at a passphrase prompt stops cairn with one
// ERR_INTERRUPTED line and status 130 (readline and raw mode see Ctrl-C as a key, not a signal).

import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, runCli, startTestServer, type TestServer } from "./helpers.js";

const PTY = path.join(path.dirname(fileURLToPath(import.meta.url)), "helpers", "run-on-pty.py");

/**
 * Runs the CLI on a pseudo-terminal, answering each [prompt text, keys] step in turn. Async: the
 * test server runs in this process and must go on answering meanwhile.
 */
async function onTty(args: string[], env: Record<string, string | undefined>, steps: Array<[string, string]>): Promise<{ status: number; output: string }> {
  const clean: Record<string, string> = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? os.tmpdir(), TERM: "dumb" };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) clean[k] = v;
  const spec = { argv: [process.execPath, CLI, ...args], env: clean, steps };
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile("python3", [PTY, JSON.stringify(spec)], { encoding: "utf8", timeout: 60_000 }, (err, out) => (err ? reject(err) : resolve(out))),
  );
  return JSON.parse(stdout) as { status: number; output: string };
}

describe("terminal questions", () => {
  let t: TestServer;
  let known: string;
  beforeAll(async () => {
    t = await startTestServer();
    known = path.join(t.env.XDG_CONFIG_HOME, "cairn", "fingerprints.json");
  });
  afterAll(async () => {
    await t?.close();
  });
  const noFingerprint = () => ({ ...t.env, CAIRN_FINGERPRINT: undefined });

  it("Ctrl-C at the fingerprint question stops with ERR_INTERRUPTED and remembers nothing", async () => {
    const r = await onTty(["list"], noFingerprint(), [["(y/n)", "\u0003"]]);
    expect(r.output).toContain(t.srv.fingerprint);
    expect(r.status).toBe(130);
    expect(r.output).toMatch(/cairn: error: ERR_INTERRUPTED: stopped by SIGINT/);
    expect(fs.existsSync(known)).toBe(false);
  });

  it("a refused fingerprint is not remembered and the command fails", async () => {
    const r = await onTty(["list"], noFingerprint(), [["(y/n)", "n\r"]]);
    expect(r.status).toBe(1);
    expect(r.output).toMatch(/cairn: error: ERR_FINGERPRINT_UNKNOWN: /);
    expect(fs.existsSync(known)).toBe(false);
  });

  it("a confirmed fingerprint is remembered and used without asking next time", async () => {
    const r = await onTty(["list", "--output-format", "json"], noFingerprint(), [["(y/n)", "y\r"]]);
    expect(r.status).toBe(0);
    expect(r.output).toContain(`fingerprint: ${t.srv.fingerprint}`);
    expect(JSON.parse(fs.readFileSync(known, "utf8"))).toEqual({ [`127.0.0.1:${t.srv.port}`]: t.srv.fingerprint });
    const again = await runCli(["list", "--output-format", "json"], noFingerprint());
    expect(again.stderr).toBe("");
    expect(again.code).toBe(0);
  });

  it("Ctrl-C at a passphrase prompt stops with ERR_INTERRUPTED and writes no key file", async () => {
    const keyFile = path.join(t.dir, "tty.key");
    const r = await onTty(["key", "create", keyFile], { XDG_CONFIG_HOME: t.env.XDG_CONFIG_HOME }, [["password: ", "abc\u0003"]]);
    expect(r.status).toBe(130);
    expect(r.output).toMatch(/cairn: error: ERR_INTERRUPTED: stopped by SIGINT/);
    expect(r.output).not.toContain("abc"); // not echoed
    expect(fs.existsSync(keyFile)).toBe(false);
  });

  it("a passphrase typed on the terminal creates a key that opens with it", async () => {
    const keyFile = path.join(t.dir, "typed.key");
    const r = await onTty(["key", "create", keyFile], { XDG_CONFIG_HOME: t.env.XDG_CONFIG_HOME }, [
      ["Encryption key password: ", "s3cret pass\r"],
      ["Verify password: ", "s3cret pass\r"],
    ]);
    expect(r.status).toBe(0);
    expect(r.output).not.toContain("s3cret");
    const src = path.join(t.dir, "tty-src");
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, "f"), "data");
    const backup = (pass: string) => runCli(["backup", `root.cxar:${src}`, "--backup-id", "tty", "--keyfile", keyFile], { ...t.env, CAIRN_KEY_PASSPHRASE: pass });
    expect((await backup("s3cret pas")).stderr).toMatch(/^cairn: error: ERR_PASSPHRASE: /);
    const ok = await backup("s3cret pass");
    expect(ok.stderr).toBe("");
    expect(ok.stdout).toMatch(/encrypted/);
  });
});
