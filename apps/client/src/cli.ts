#!/usr/bin/env node
// cairn: the backup client, shaped like proxmox-backup-client. Parses the command line
// (commander), runs one command, prints tables or JSON on stdout, progress on stderr (TTY only)
// and on failure exactly one line `cairn: error: CODE: message` with a non-zero exit status.

import { Command, CommanderError, Option } from "commander";
import { type ArchiveWarning, checkExcludePatterns } from "@cairn/archive";
import type { KeepOptions } from "@cairn/protocol/client";
import { backup, parseSource, summaryText } from "./commands/backup.js";
import { localBenchmark, uploadBenchmark } from "./commands/benchmark.js";
import { catalogList } from "./commands/catalog.js";
import { defaultKeyFile, keyChangePassphrase, keyCreate, keyShow } from "./commands/key.js";
import { forget, gc, listGroups, listSnapshots, prune, status, taskLog, verify } from "./commands/manage.js";
import { restore } from "./commands/restore.js";
import { openConnection, type RepoOptions } from "./connection.js";
import { ClientError, describeError, errorLine } from "./errors.js";
import { installInterruptHandlers, interruptedBy } from "./interrupt.js";
import { openKeyFile } from "./keys.js";
import { settleWorkingFolder } from "./local-path.js";
import { humanBytes, isoTime, type OutputFormat, print } from "./output.js";
import { formatSnapshot, parseBackupId, parseBackupType, parseGroup, parseNamespace, parseSnapshot } from "./snapshot-spec.js";

type Common = RepoOptions & { outputFormat: OutputFormat };

function fmtOption(): Option {
  return new Option("--output-format <format>", "text or json").choices(["text", "json"]).default("text");
}

/** In text mode a task's log lines are printed as they come (JSON gives the whole log at the end). */
function followLog(o: Common): ((line: string) => void) | undefined {
  return o.outputFormat === "json" ? undefined : (line) => process.stdout.write(`${line}\n`);
}

/**
 * A server task that did not end OK, as an error with the task's own code (ERR_LOCKED for a GC
 * already running, ERR_NO_SPACE, …); `fallback` when the task gave none or an internal one.
 */
function taskFailed(st: { exitstatus?: string; errorcode?: string; state: string }, what: string, fallback = "ERR_TASK_FAILED"): Error {
  const code = st.state === "aborted" ? "ERR_TASK_ABORTED" : st.errorcode && st.errorcode !== "ERR_INTERNAL" ? st.errorcode : fallback;
  const e = new Error(`${what} ended with: ${st.exitstatus}`) as Error & { code: string };
  e.code = code;
  return e;
}

/** The repository options; `--ns` only where a namespace applies (not gc, status, task log). */
function repoCommand(cmd: Command, withNs = true): Command {
  cmd
    .option("--repository <repo>", "[[user@realm[!token]@]host[:port]:]datastore (or CAIRN_REPOSITORY)")
    .option("--fingerprint <fp>", "server certificate SHA-256 fingerprint (or CAIRN_FINGERPRINT)");
  if (withNs) cmd.option("--ns <namespace>", "namespace inside the datastore (empty: the root one)", parseNamespace);
  return cmd.addOption(fmtOption());
}

function intOption(name: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new ClientError("ERR_USAGE", `${name} expects a non-negative integer, got "${v}"`);
    return Number(v);
  };
}

function positiveIntOption(name: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new ClientError("ERR_USAGE", `${name} expects a positive integer, got "${v}"`);
    return Number(v);
  };
}

/** `--backup-time`: epoch seconds up to the end of year 9999, as the server accepts. */
function backupTimeOption(v: string): number {
  const n = intOption("--backup-time")(v);
  if (n > MAX_BACKUP_TIME) throw new ClientError("ERR_USAGE", `--backup-time ${v} is after 9999-12-31T23:59:59Z (${MAX_BACKUP_TIME})`);
  return n;
}

const MAX_BACKUP_TIME = 253402300799;

/** `--chunk-size` in KiB, as proxmox-backup-client takes it: a power of two from 64 to 4096. */
function chunkSizeOption(v: string): number {
  const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!(n >= 64 && n <= 4096 && (n & (n - 1)) === 0)) {
    throw new ClientError("ERR_USAGE", `--chunk-size expects a power of two between 64 and 4096 (KiB), got "${v}"`);
  }
  return n * 1024;
}

/** `--zstd-level`: 1 (PBS's level, the default) to 19. */
function zstdLevelOption(v: string): number {
  const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!(n >= 1 && n <= 19)) throw new ClientError("ERR_USAGE", `--zstd-level expects an integer from 1 to 19, got "${v}"`);
  return n;
}

/** A warning about one entry, on stderr with the entry's printable path. */
function warningLine(w: ArchiveWarning): void {
  // after Ctrl-C the file being written fails on the closed connection: that is the stop, not news
  const message = interruptedBy() && w.reason === "partial-removed" ? `partial file removed (the restore was stopped by ${interruptedBy()})` : w.message;
  process.stderr.write(`cairn: warning: ${w.display}: ${message}\n`);
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

export function buildProgram(): Command {
  const program = new Command("cairn")
    .description("cairn backup client (proxmox-backup-client compatible in spirit)")
    .version("0.1.0")
    .exitOverride()
    .configureOutput({ writeErr: () => {} })
    .showHelpAfterError(false);

  repoCommand(program.command("backup"))
    .description("back up file trees (NAME.cxar:DIR) and images (NAME.img:FILE) into one snapshot")
    .argument("<sources...>", "NAME.cxar:PATH or NAME.img:PATH")
    .option("--backup-id <id>", "backup id (default: host name)", parseBackupId)
    .addOption(new Option("--backup-type <type>", "host, vm or ct").default("host"))
    .option("--backup-time <epoch>", "snapshot time (default: now)", backupTimeOption)
    .option("--keyfile <file>", "encrypt with this key file")
    .option("--exclude <glob>", "gitignore-style exclude pattern (repeatable)", collect)
    .addOption(new Option("--change-detection-mode <mode>", "legacy (read everything) or metadata (re-use unchanged files)").choices(["legacy", "metadata"]).default("legacy"))
    .option("--chunk-size <KiB>", "chunk size in KiB, a power of two from 64 to 4096: the average for file trees, the fixed size for images (default 4096)", chunkSizeOption)
    .option("--zstd-level <n>", "zstd level of new chunks, 1 to 19 (default 1, as PBS; 2 stores about 7% less for about 25% more compression CPU)", zstdLevelOption)
    .action(async (sources: string[], o: Common & { backupId?: string; backupType: string; backupTime?: number; keyfile?: string; exclude?: string[]; changeDetectionMode: "legacy" | "metadata"; chunkSize?: number; zstdLevel?: number }) => {
      const parsed = sources.map(parseSource);
      checkExcludePatterns(o.exclude); // before a key passphrase or fingerprint prompt
      const crypt = o.keyfile ? await openKeyFile(o.keyfile) : undefined;
      const connection = await openConnection(o);
      const s = await backup({
        connection,
        sources: parsed,
        backupId: o.backupId,
        backupType: parseBackupType(o.backupType),
        backupTime: o.backupTime,
        crypt,
        exclude: o.exclude,
        changeDetectionMode: o.changeDetectionMode,
        chunkSize: o.chunkSize,
        compressLevel: o.zstdLevel,
        onWarning: warningLine,
      });
      print(o.outputFormat, o.outputFormat === "json" ? s : summaryText(s, humanBytes), undefined);
    });

  repoCommand(program.command("restore"))
    .description("restore ARCHIVE of SNAPSHOT (TYPE/ID/TIME, or TYPE/ID = latest) to TARGET")
    .argument("<snapshot>")
    .argument("<archive>", "e.g. root.cxar or disk.img")
    .argument("<target>", "directory (file tree) or file (image)")
    .option("--path <subpath>", "restore only this file or directory of the archive")
    .option("--keyfile <file>", "key file for an encrypted snapshot")
    .action(async (snapshot: string, archive: string, target: string, o: Common & { path?: string; keyfile?: string }) => {
      const spec = parseSnapshot(snapshot);
      const crypt = o.keyfile ? await openKeyFile(o.keyfile) : undefined;
      const connection = await openConnection(o);
      const s = await restore({ connection, snapshot: spec, archive, target, path: o.path, crypt, onWarning: warningLine });
      const text = `restored ${s.archive} of ${s.snapshot} to ${s.target}: ${humanBytes(s.bytes)}${s.files === undefined ? "" : ` in ${s.files} ${s.files === 1 ? "file" : "files"}`}, ${s.durationSeconds.toFixed(2)} s, ${s.mbPerSecond.toFixed(1)} MB/s`;
      print(o.outputFormat, o.outputFormat === "json" ? s : text, undefined);
    });

  repoCommand(program.command("snapshots"))
    .description("list snapshots (of one group: TYPE/ID)")
    .argument("[group]")
    .action(async (group: string | undefined, o: Common) => {
      const g = group ? parseGroup(group) : undefined;
      const list = await listSnapshots(await openConnection(o), g);
      print(o.outputFormat, list, list, [
        { header: "snapshot", get: (s) => formatSnapshot(s["backup-type"], s["backup-id"], s["backup-time"]) },
        // a backup still running (or one whose client vanished) has no manifest yet: no size to show
        { header: "size", get: (s) => (!s.finished ? "unfinished" : s.size === undefined ? "" : humanBytes(s.size)), right: true },
        { header: "files", get: (s) => s.files.map((f) => f.filename).filter((f) => f !== "index.json.blob").join(" ") },
        { header: "verify", get: (s) => s.verification?.state ?? "" },
        { header: "protected", get: (s) => (s.protected ? "yes" : "") },
      ]);
    });

  repoCommand(program.command("list"))
    .description("list backup groups")
    .action(async (o: Common) => {
      const list = await listGroups(await openConnection(o));
      print(o.outputFormat, list, list, [
        { header: "group", get: (g) => `${g["backup-type"]}/${g["backup-id"]}` },
        { header: "last backup", get: (g) => (g["last-backup"] === null ? "" : isoTime(g["last-backup"])) },
        { header: "count", get: (g) => g["backup-count"], right: true },
        { header: "owner", get: (g) => g.owner ?? "" },
      ]);
    });

  const catalog = program.command("catalog").description("browse the catalog of a snapshot");
  repoCommand(catalog.command("ls"))
    .description("list PATH (default /) of a file-tree archive of SNAPSHOT")
    .argument("<snapshot>")
    .argument("[path]", "directory or file inside the archive", "/")
    .option("--archive <name>", "which file-tree archive (default: the first)")
    .option("--keyfile <file>", "key file for an encrypted snapshot")
    .action(async (snapshot: string, p: string, o: Common & { archive?: string; keyfile?: string }) => {
      const spec = parseSnapshot(snapshot);
      const crypt = o.keyfile ? await openKeyFile(o.keyfile) : undefined;
      const l = await catalogList(await openConnection(o), spec, p, o.archive, crypt);
      print(o.outputFormat, l, l.entries, [
        { header: "type", get: (e) => e.type },
        { header: "size", get: (e) => (e.type === "file" ? e.size : ""), right: true },
        { header: "mtime", get: (e) => e.mtime.replace(/\.\d{3}Z$/, "Z") },
        { header: "name", get: (e) => (e.type === "dir" ? `${e.name}/` : e.name) },
      ], "(empty directory)");
    });

  repoCommand(program.command("forget"))
    .description("remove one snapshot (TYPE/ID/TIME)")
    .argument("<snapshot>")
    .action(async (snapshot: string, o: Common) => {
      const r = await forget(await openConnection(o), parseSnapshot(snapshot));
      print(o.outputFormat, o.outputFormat === "json" ? r : `removed ${r.snapshot}`, undefined);
    });

  const keepNames = ["last", "hourly", "daily", "weekly", "monthly", "yearly"] as const;
  const pruneCmd = repoCommand(program.command("prune"))
    .description("remove the snapshots of GROUP that no --keep-* option keeps")
    .argument("<group>")
    .option("--dry-run", "only show what would be removed");
  // as in PBS, a --keep-* count is at least 1 (0 would read as "keep none" but mean "not set")
  for (const k of keepNames) pruneCmd.option(`--keep-${k} <n>`, `keep the last n ${k === "last" ? "snapshots" : `${k} snapshots`}`, positiveIntOption(`--keep-${k}`));
  pruneCmd.action(async (group: string, o: Common & Record<string, number | boolean | undefined>) => {
    const keep: KeepOptions = {};
    for (const k of keepNames) {
      const v = o[`keep${k[0].toUpperCase()}${k.slice(1)}`];
      if (typeof v === "number") keep[`keep-${k}`] = v;
    }
    const list = await prune(await openConnection(o), parseGroup(group), keep, Boolean(o.dryRun));
    print(o.outputFormat, list, list, [
      { header: "snapshot", get: (e) => formatSnapshot(e["backup-type"], e["backup-id"], e["backup-time"]) },
      { header: "action", get: (e) => (e.keep ? "keep" : o.dryRun ? "would remove" : e.error ? "not removed" : "removed") },
      { header: "reason", get: (e) => e.reason ?? "" },
    ]);
    // as PBS, prune goes on past a snapshot it cannot remove (a restore or verify holds it) and
    // says so; it is removed by the next prune
    for (const e of list) {
      if (e.error) process.stderr.write(`cairn: warning: ${formatSnapshot(e["backup-type"], e["backup-id"], e["backup-time"])} was not removed (${e.error})\n`);
    }
  });

  repoCommand(program.command("gc"), false)
    .description("run garbage collection on the datastore and wait for it")
    .action(async (o: Common) => {
      const r = await gc(await openConnection(o), followLog(o));
      print(o.outputFormat, o.outputFormat === "json" ? r : `task ${r.upid}: ${r.status.exitstatus ?? r.status.state}`, undefined);
      if (r.status.exitstatus && r.status.exitstatus !== "OK") throw taskFailed(r.status, "garbage collection");
    });

  repoCommand(program.command("verify"))
    .description("verify all snapshots (or one group/snapshot) on the server and wait for it")
    .argument("[snapshot]")
    .action(async (snapshot: string | undefined, o: Common) => {
      const r = await verify(await openConnection(o), snapshot ? parseSnapshot(snapshot) : undefined, followLog(o));
      print(o.outputFormat, o.outputFormat === "json" ? r : `task ${r.upid}: ${r.status.exitstatus ?? r.status.state}`, undefined);
      if (r.status.exitstatus && r.status.exitstatus !== "OK") throw taskFailed(r.status, "verification", "ERR_VERIFY_FAILED");
    });

  repoCommand(program.command("status"), false)
    .description("datastore usage and counts")
    .action(async (o: Common) => {
      const s = await status(await openConnection(o));
      const text = `datastore ${s.store}: used ${humanBytes(s.used)} of ${humanBytes(s.total)} (${humanBytes(s.avail)} free)${s["dedup-factor"] ? `, dedup factor ${s["dedup-factor"].toFixed(2)}` : ""}`;
      print(o.outputFormat, o.outputFormat === "json" ? s : text, undefined);
    });

  const task = program.command("task").description("server tasks");
  repoCommand(task.command("log"), false)
    .description("print the log of task UPID")
    .argument("<upid>")
    .action(async (upid: string, o: Common) => {
      // PBS's shape, UPID:node:pid:pstart:task:starttime:type:worker:user: (hex numbers)
      if (!/^UPID:[^:\s]+:[0-9A-Fa-f]{8}:[0-9A-Fa-f]{8,9}:[0-9A-Fa-f]{8,16}:[0-9A-Fa-f]{8}:[^:\s]+:[^:\s]*:[^:\s]+:$/.test(upid)) {
        throw new ClientError("ERR_USAGE", `${JSON.stringify(upid)} is not a task id (UPID:…:, as gc, verify and prune print it)`);
      }
      const r = await taskLog(await openConnection(o), upid);
      print(o.outputFormat, o.outputFormat === "json" ? r : [...r.log, `state: ${r.status.state}${r.status.exitstatus ? ` (${r.status.exitstatus})` : ""}`].join("\n"), undefined);
    });

  const key = program.command("key").description("encryption key files");
  key
    .command("create")
    .description("create a new key file (default ~/.config/cairn/encryption-key.json)")
    .argument("[path]")
    .addOption(new Option("--kdf <kdf>", "scrypt (passphrase) or none").choices(["none", "scrypt", "pbkdf2"]).default("scrypt"))
    .option("--hint <text>", "passphrase hint stored in the key file")
    .addOption(fmtOption())
    .action(async (p: string | undefined, o: { kdf: "none" | "scrypt" | "pbkdf2"; hint?: string; outputFormat: OutputFormat }) => {
      const r = await keyCreate(p ?? defaultKeyFile(), o.kdf, o.hint);
      print(o.outputFormat, o.outputFormat === "json" ? r : `created ${r.path} (kdf ${r.kdf}, fingerprint ${r.fingerprint})`, undefined);
    });
  key
    .command("show")
    .description("show a key file's kdf, dates and fingerprint")
    .argument("[path]")
    .addOption(fmtOption())
    .action(async (p: string | undefined, o: { outputFormat: OutputFormat }) => {
      const r = await keyShow(p ?? defaultKeyFile());
      print(o.outputFormat, r, [r], [
        { header: "path", get: (x) => x.path },
        { header: "kdf", get: (x) => x.kdf },
        { header: "created", get: (x) => x.created },
        { header: "fingerprint", get: (x) => x.fingerprint },
      ]);
    });
  key
    .command("change-passphrase")
    .description("protect the key with a new passphrase (CAIRN_KEY_PASSPHRASE old, CAIRN_NEW_KEY_PASSPHRASE new)")
    .argument("[path]")
    .addOption(new Option("--kdf <kdf>", "new kdf").choices(["none", "scrypt", "pbkdf2"]))
    .addOption(fmtOption())
    .action(async (p: string | undefined, o: { kdf?: "none" | "scrypt" | "pbkdf2"; outputFormat: OutputFormat }) => {
      const r = await keyChangePassphrase(p ?? defaultKeyFile(), o.kdf);
      print(o.outputFormat, o.outputFormat === "json" ? r : `changed the passphrase of ${r.path} (kdf ${r.kdf})`, undefined);
    });

  program
    .command("benchmark")
    .description("measure SHA-256, zstd, AES-256-GCM and chunker speed here (and the TLS upload speed with --repository)")
    .option("--repository <repo>", "also measure the upload speed to this server (or CAIRN_REPOSITORY when given)")
    .option("--fingerprint <fp>", "server certificate SHA-256 fingerprint (or CAIRN_FINGERPRINT)")
    .addOption(fmtOption())
    .action(async (o: Common) => {
      const r = await localBenchmark();
      if (o.repository ?? process.env.CAIRN_REPOSITORY) r.push(await uploadBenchmark(await openConnection(o)));
      print(o.outputFormat, r, r, [
        { header: "name", get: (x) => x.name },
        { header: "MB/s", get: (x) => x.mbPerSecond, right: true },
      ]);
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  settleWorkingFolder();
  const program = buildProgram();
  installInterruptHandlers();
  // A promise that failed with no one waiting for it is a bug, but the user still gets the one
  // error line (the stack with CAIRN_DEBUG=1), not Node's trace; after Ctrl-C it is the signal's
  // echo, and the interrupt handler is already ending the process.
  process.on("unhandledRejection", (err) => {
    if (interruptedBy()) return;
    process.stderr.write(`${errorLine(err)}\n`);
    if (process.env.CAIRN_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  });
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help") return 0;
      process.stderr.write(`cairn: error: ERR_USAGE: ${err.message.replace(/^error: /, "")}\n`);
      return 2;
    }
    // after Ctrl-C the failure is the signal's doing; the handler prints the line and exits
    if (interruptedBy()) return new Promise<number>(() => {});
    process.stderr.write(`${errorLine(err)}\n`);
    const { code, internal } = describeError(err);
    if (internal && process.env.CAIRN_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    // a command-line mistake exits 2 whether commander or one of our option checks found it
    return code === "ERR_USAGE" ? 2 : 1;
  }
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
