#!/usr/bin/env node
// cairn-server: run the daemon (`start`) and manage the config folder directly (datastores,
// users, tokens, ACL, certificate fingerprint) — no running server needed. Output is a short
// human line or table, or JSON with --output-format json; user mistakes print one line on
// stderr and exit 1, never a stack trace.

import fs from "node:fs";
import path from "node:path";
import { makeDirs } from "@cairn/datastore";
import { Command, CommanderError, Option } from "commander";
import { ProtocolError, ROLES } from "@cairn/protocol";
import { setAcl } from "./acl.js";
import { createToken, createUser, deleteAuthId } from "./auth.js";
import { ConfigDir } from "./config.js";

// The daemon, the datastore and the certificate maker load only for the commands that need them,
// so that the config commands start fast.
const DEFAULT_LISTEN = "127.0.0.1:8007";

type Fmt = "text" | "json";

function out(fmt: Fmt, json: unknown, text: string): void {
  process.stdout.write(fmt === "json" ? `${JSON.stringify(json)}\n` : `${text}\n`);
}

function configOf(opts: { config?: string }): ConfigDir {
  if (!opts.config) throw new ProtocolError("ERR_BAD_REQUEST", "--config DIR is required");
  return new ConfigDir(opts.config);
}

const fmtOption = () => new Option("--output-format <fmt>", "text or json").choices(["text", "json"]).default("text");
const configOption = () => new Option("--config <dir>", "config folder").env("CAIRN_CONFIG");

/** A pid file may outlive its daemon and the pid be reused: only a node cairn process counts. */
function looksLikeCairn(pid: number): boolean {
  try {
    return /cairn|cli\.js/.test(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8"));
  } catch {
    return true;
  }
}

async function readPassword(prompt: string): Promise<string> {
  if (process.env.CAIRN_PASSWORD) return process.env.CAIRN_PASSWORD;
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString("utf8").split("\n")[0];
  }
  process.stderr.write(prompt);
  const stdin = process.stdin;
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve) => {
    let s = "";
    const onData = (d: Buffer) => {
      for (const ch of d.toString("utf8")) {
        if (ch === "\r" || ch === "\n") {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.removeListener("data", onData);
          process.stderr.write("\n");
          resolve(s);
          return;
        }
        if (ch === "\u0003") process.exit(130);
        if (ch === "\u007f") s = s.slice(0, -1);
        else s += ch;
      }
    };
    stdin.on("data", onData);
  });
}

export function buildCli(): Command {
  const program = new Command("cairn-server")
    .description("cairn backup server")
    .exitOverride()
    // commander's own messages ("error: unknown command") are reported by main, in our format
    .configureOutput({ writeErr: (str) => (/^error: /.test(str) ? undefined : process.stderr.write(str)) })
    .showHelpAfterError(false);

  program
    .command("start")
    .description(`run the daemon (default listen ${DEFAULT_LISTEN}); SIGHUP or "cairn-server reload" restarts it without interrupting backups`)
    .addOption(configOption())
    .option("--listen <host:port>", "address to listen on", DEFAULT_LISTEN)
    .option("--log-file <file>", "write JSON logs to this file instead of stdout")
    .option("--log-level <level>", "pino log level", "info")
    .option("--workers <n>", "chunk verification threads (default: available parallelism)")
    .option("--pid-file <file>", "pid file (default: CONFIG/cairn-server.pid)")
    .option("--session-timeout <seconds>", "close a backup or reader session whose client sends nothing, not even a pong, for this long (default 120)")
    .action(async (opts: { config?: string; listen: string; logFile?: string; logLevel: string; workers?: string; pidFile?: string; sessionTimeout?: string }) => {
      const timeout = opts.sessionTimeout === undefined ? undefined : Number(opts.sessionTimeout);
      if (timeout !== undefined && !(/^\d+$/.test(opts.sessionTimeout!) && timeout >= 1 && timeout <= 86_400)) {
        throw new ProtocolError("ERR_BAD_REQUEST", `--session-timeout expects seconds from 1 to 86400, got "${opts.sessionTimeout}"`);
      }
      const workers = opts.workers === undefined ? undefined : Number(opts.workers);
      if (workers !== undefined && !(Number.isInteger(workers) && workers >= 1 && workers <= 256)) {
        throw new ProtocolError("ERR_BAD_REQUEST", `--workers expects a number from 1 to 256, got "${opts.workers}"`);
      }
      const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
      if (!LEVELS.includes(opts.logLevel)) {
        throw new ProtocolError("ERR_BAD_REQUEST", `--log-level expects one of ${LEVELS.join(", ")}, got "${opts.logLevel}"`);
      }
      const config = configOf(opts);
      const { default: pino } = await import("pino");
      const { startServer } = await import("./server.js");
      const { HANDOVER_ENV, announceReady, currentGeneration, handOver, receiveListener } = await import("./reload.js");
      const { defaultPidFile, isAlive, readPidFile, removePidFileIfOwn, writePidFile } = await import("./pid-file.js");
      const pidFile = opts.pidFile ?? defaultPidFile(config.dir);
      const generation = currentGeneration();
      const handover = process.env[HANDOVER_ENV] === "1";
      // Our own children (next reload) get the variable set afresh by reload.ts.
      delete process.env[HANDOVER_ENV];
      if (!handover) {
        const other = readPidFile(pidFile);
        if (other !== undefined && other !== process.pid && isAlive(other) && looksLikeCairn(other)) {
          throw new ProtocolError("ERR_LOCKED", `cairn-server is already running with this config (pid ${other}, pid file ${pidFile}); use "cairn-server reload"`);
        }
      }
      // the log folder is made here: pino's own mkdir is Node's recursive one, which spins on /proc/x
      if (opts.logFile) makeDirs(path.dirname(path.resolve(opts.logFile)));
      const logger = pino(
        { level: opts.logLevel, base: { pid: process.pid, generation } },
        opts.logFile ? pino.destination({ dest: opts.logFile, sync: true }) : pino.destination(1),
      );
      const listenHandle = handover ? await receiveListener() : undefined;
      if (handover && !listenHandle) logger.warn({ listen: opts.listen }, "reload: the previous generation went away before handing over its listener; binding the address anew");
      const srv = await startServer({ configDir: config.dir, listen: opts.listen, logger, workers, listenHandle, generation, sessionTimeoutMs: timeout === undefined ? undefined : timeout * 1000 });
      writePidFile(pidFile);
      if (handover) announceReady();
      // A successor's stderr is the log file (or the old process's stdout): the JSON line says it.
      if (!handover) {
        if (srv.certificateCreated) process.stderr.write(`created a self-signed certificate in ${config.dir}/cert\n`);
        process.stderr.write(`cairn-server listening on ${srv.url}\nfingerprint: ${srv.fingerprint}\npid: ${process.pid} (generation ${generation}, pid file ${pidFile})\n`);
      }
      logger.info({ url: srv.url, fingerprint: srv.fingerprint, handover }, "listening");
      let stopping = false;
      const stop = (sig: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal: sig }, "shutting down");
        srv.close().then(
          () => {
            removePidFileIfOwn(pidFile);
            process.exit(0);
          },
          (err) => {
            logger.error({ err }, "shutdown failed");
            process.exit(1);
          },
        );
      };
      // A SIGTERM during the drain still stops this generation (its unfinished backups are removed).
      let reloading = false;
      const reload = () => {
        if (stopping || reloading) return;
        reloading = true;
        handOver(srv, { logger, logFile: opts.logFile }).then(
          (done) => {
            if (done) process.exit(0);
            reloading = false;
          },
          (err) => {
            logger.error({ err }, "reload failed while draining");
            process.exit(1);
          },
        );
      };
      process.on("SIGTERM", () => stop("SIGTERM"));
      process.on("SIGINT", () => stop("SIGINT"));
      process.on("SIGHUP", reload);
    });

  program
    .command("reload")
    .description("restart the running daemon without interrupting backups: a new process takes over the listener, the old one finishes its sessions")
    .addOption(configOption())
    .option("--pid-file <file>", "pid file (default: CONFIG/cairn-server.pid)")
    .option("--timeout <seconds>", "how long to wait for the new generation", "60")
    .addOption(fmtOption())
    .action(async (opts: { config?: string; pidFile?: string; timeout: string; outputFormat: Fmt }) => {
      const config = configOf(opts);
      const { defaultPidFile } = await import("./pid-file.js");
      const { requestReload } = await import("./reload.js");
      const timeout = Number(opts.timeout);
      if (!(timeout > 0 && timeout <= 3600)) throw new ProtocolError("ERR_BAD_REQUEST", `--timeout expects seconds from 1 to 3600, got "${opts.timeout}"`);
      const r = await requestReload(opts.pidFile ?? defaultPidFile(config.dir), timeout * 1000);
      out(opts.outputFormat, { "old-pid": r.oldPid, "new-pid": r.newPid }, `reloaded: pid ${r.oldPid} hands over to pid ${r.newPid} (the old one exits when its sessions end)`);
    });

  const cert = program.command("cert").description("the server certificate");
  cert
    .command("fingerprint")
    .description("print the SHA-256 fingerprint of the server certificate")
    .addOption(configOption())
    .addOption(fmtOption())
    .action(async (opts: { config?: string; outputFormat: Fmt }) => {
      const config = configOf(opts);
      config.requireExisting();
      const { loadCertificate } = await import("./cert.js");
      const c = loadCertificate(config);
      if (!c) throw new ProtocolError("ERR_NOT_FOUND", `no certificate in ${config.dir} yet (start the server once, or run "cairn-server cert create")`);
      out(opts.outputFormat, { fingerprint: c.fingerprint }, c.fingerprint);
    });
  cert
    .command("create")
    .description("make the self-signed certificate if missing")
    .addOption(configOption())
    .addOption(fmtOption())
    .action(async (opts: { config?: string; outputFormat: Fmt }) => {
      const config = configOf(opts);
      config.ensure();
      const { ensureCertificate } = await import("./cert.js");
      const c = await ensureCertificate(config);
      out(opts.outputFormat, { fingerprint: c.fingerprint, created: c.created }, c.fingerprint);
    });

  const ds = program.command("datastore").description("datastores");
  ds.command("create")
    .description("create a datastore NAME in folder PATH")
    .argument("<name>")
    .argument("<path>")
    .option("--comment <text>")
    .option("--lazy-chunk-folders", "make the 65536 chunk folders on first use (throw-away stores, tests)")
    .addOption(configOption())
    .addOption(fmtOption())
    .action(async (name: string, path: string, opts: { config?: string; comment?: string; lazyChunkFolders?: boolean; outputFormat: Fmt }) => {
      const config = configOf(opts);
      config.ensure();
      const { createDatastore } = await import("./stores.js");
      const e = await createDatastore(config, name, path, { comment: opts.comment, lazyChunkFolders: opts.lazyChunkFolders });
      out(opts.outputFormat, { name, path: e.path }, `created datastore ${name} at ${e.path}`);
    });
  ds.command("list")
    .description("list datastores")
    .addOption(configOption())
    .addOption(fmtOption())
    .action(async (opts: { config?: string; outputFormat: Fmt }) => {
      const config = configOf(opts);
      const all = Object.entries(config.datastores()).map(([name, e]) => ({ name, path: e.path, comment: e.comment }));
      out(opts.outputFormat, all, all.length === 0 ? "no datastores" : all.map((d) => `${d.name.padEnd(16)} ${d.path}${d.comment ? `  (${d.comment})` : ""}`).join("\n"));
    });

  const user = program.command("user").description("users (realm @pbs)");
  user
    .command("create")
    .description("create a user, e.g. alice@pbs")
    .argument("<userid>")
    .option("--password", "ask for a password (or read CAIRN_PASSWORD / stdin)")
    .option("--comment <text>")
    .addOption(configOption())
    .addOption(fmtOption())
    .action(async (userid: string, opts: { config?: string; password?: boolean; comment?: string; outputFormat: Fmt }) => {
      const config = configOf(opts);
      config.ensure();
      let password: string | undefined;
      if (opts.password) {
        password = await readPassword(`password for ${userid}: `);
        if (password.length < 8) throw new ProtocolError("ERR_BAD_REQUEST", "password must have at least 8 characters");
      }
      createUser(config, userid, password, opts.comment);
      out(opts.outputFormat, { userid }, `created user ${userid}`);
    });
  user
    .command("list")
    .addOption(configOption())
    .addOption(fmtOption())
    .action(async (opts: { config?: string; outputFormat: Fmt }) => {
      const f = configOf(opts).userFile();
      const list = Object.entries(f.users).map(([userid, u]) => ({ userid, enable: u.enable, tokens: Object.keys(f.tokens).filter((t) => t.startsWith(`${userid}!`)) }));
      out(opts.outputFormat, list, list.map((u) => `${u.userid}${u.tokens.length ? `  tokens: ${u.tokens.join(", ")}` : ""}`).join("\n") || "no users");
    });

  user
    .command("delete")
    .description("delete a user, its tokens and their ACL entries (the groups they own keep their owner)")
    .argument("<userid>")
    .addOption(configOption())
    .addOption(fmtOption())
    .action(async (userid: string, opts: { config?: string; outputFormat: Fmt }) => {
      const config = configOf(opts);
      config.requireExisting();
      const r = deleteAuthId(config, userid);
      out(opts.outputFormat, r, `deleted ${r.removed.join(", ")}`);
    });

  const token = program.command("token").description("API tokens");
  token
    .command("delete")
    .description("delete a token USER@REALM!NAME and its ACL entries")
    .argument("<tokenid>")
    .addOption(configOption())
    .addOption(fmtOption())
    .action(async (tokenid: string, opts: { config?: string; outputFormat: Fmt }) => {
      if (!tokenid.includes("!")) throw new ProtocolError("ERR_BAD_REQUEST", `"${tokenid}" is not a token id (USER@REALM!NAME); use "user delete" for a user`);
      const config = configOf(opts);
      config.requireExisting();
      const r = deleteAuthId(config, tokenid);
      out(opts.outputFormat, r, `deleted ${r.removed.join(", ")}`);
    });
  token
    .command("create")
    .description("create a token USER@REALM!NAME; prints its secret once")
    .argument("<tokenid>")
    .addOption(configOption())
    .addOption(fmtOption())
    .action(async (tokenid: string, opts: { config?: string; outputFormat: Fmt }) => {
      const config = configOf(opts);
      config.requireExisting();
      const secret = createToken(config, tokenid);
      out(opts.outputFormat, { tokenid, value: secret }, `token ${tokenid}\nsecret: ${secret}\n(store it now: it is not shown again)`);
    });

  const acl = program.command("acl").description("access control");
  acl
    .command("set")
    .description(`grant ROLE (${ROLES.join(", ")}) on PATH (/, /datastore, /datastore/STORE[/NS]) to AUTHID`)
    .argument("<path>")
    .argument("<role>")
    .argument("<authid>")
    .option("--no-propagate", "do not apply to sub-paths")
    .option("--delete", "remove this entry instead")
    .addOption(configOption())
    .addOption(fmtOption())
    .action(async (path: string, role: string, authId: string, opts: { config?: string; propagate: boolean; delete?: boolean; outputFormat: Fmt }) => {
      const config = configOf(opts);
      config.requireExisting();
      setAcl(config, { path, role, authId, propagate: opts.propagate, remove: opts.delete });
      out(opts.outputFormat, { path, role, "auth-id": authId, propagate: opts.propagate, deleted: !!opts.delete }, `${opts.delete ? "removed" : "set"} ${role} on ${path} for ${authId}`);
    });
  acl
    .command("list")
    .addOption(configOption())
    .addOption(fmtOption())
    .action(async (opts: { config?: string; outputFormat: Fmt }) => {
      const list = configOf(opts).acl();
      out(opts.outputFormat, list.map((e) => ({ path: e.path, role: e.role, "auth-id": e.authId, propagate: e.propagate })), list.map((e) => `${e.path.padEnd(24)} ${e.role.padEnd(16)} ${e.authId}${e.propagate === false ? "  (no propagate)" : ""}`).join("\n") || "no ACL entries");
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildCli();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.exitCode === 0) return 0;
      process.stderr.write(`cairn-server: error: ERR_USAGE: ${err.message.replace(/^error: /, "")}\n`);
      return 2;
    }
    // one line, `cairn-server: error: CODE: message`, as the client prints its errors
    const raw = (err as { code?: unknown }).code;
    const code = typeof raw === "string" && /^ERR_[A-Z0-9_]+$/.test(raw) ? raw : typeof raw === "string" && /^E[A-Z]+$/.test(raw) ? `ERR_SYSTEM_${raw}` : "ERR_INTERNAL";
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`cairn-server: error: ${code}: ${message.split("\n")[0]}\n`);
    if (code === "ERR_INTERNAL" && process.env.CAIRN_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    return code === "ERR_USAGE" || code === "ERR_BAD_REQUEST" ? 2 : 1;
  }
}

main(process.argv).then((code) => {
  if (code !== 0) process.exit(code);
});
