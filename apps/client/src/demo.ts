// The main job (`pnpm demo`): a real cairn server on 127.0.0.1 with a fresh datastore under
// <repo>/.cairn-demo/, a token with DatastoreAdmin, two backups of /usr/share/doc (or the
// repository's packages/ folder when that is missing), a listing, a restore compared byte for
// byte and by mode and mtime, a GC and a status line. Exits 0 only if everything matched.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigDir, createDatastore, createToken, createUser, setAcl, startServer } from "@cairn/server";
import { backup, summaryText } from "./commands/backup.js";
import { gc, listSnapshots, status } from "./commands/manage.js";
import { restore } from "./commands/restore.js";
import { openConnection } from "./connection.js";
import { ClientError, errorLine } from "./errors.js";
import { humanBytes, renderTable } from "./output.js";
import { formatSnapshot } from "./snapshot-spec.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const demoDir = path.join(repoRoot, ".cairn-demo");

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Walks both trees; returns the differences (content, type, mode, mtime, symlink target). */
async function compareTrees(a: string, b: string): Promise<{ diffs: string[]; files: number; bytes: number }> {
  const diffs: string[] = [];
  let files = 0;
  let bytes = 0;
  const walk = async (rel: string): Promise<void> => {
    const pa = path.join(a, rel);
    const pb = path.join(b, rel);
    const sa = await fs.promises.lstat(pa);
    const sb = await fs.promises.lstat(pb).catch(() => undefined);
    if (!sb) return void diffs.push(`missing: ${rel}`);
    if (sa.mode !== sb.mode) diffs.push(`mode differs: ${rel} (${sa.mode.toString(8)} vs ${sb.mode.toString(8)})`);
    if (!sa.isSymbolicLink() && Math.abs(sa.mtimeMs - sb.mtimeMs) > 0.001) diffs.push(`mtime differs: ${rel}`);
    if (sa.isSymbolicLink()) {
      if ((await fs.promises.readlink(pa)) !== (await fs.promises.readlink(pb))) diffs.push(`symlink target differs: ${rel}`);
    } else if (sa.isFile()) {
      files++;
      bytes += sa.size;
      if (!(await fs.promises.readFile(pa)).equals(await fs.promises.readFile(pb))) diffs.push(`content differs: ${rel}`);
    } else if (sa.isDirectory()) {
      const na = (await fs.promises.readdir(pa)).sort();
      const nb = (await fs.promises.readdir(pb)).sort();
      if (na.join("\0") !== nb.join("\0")) diffs.push(`entries differ: ${rel || "."}`);
      for (const n of na) if (nb.includes(n)) await walk(path.join(rel, n));
    }
  };
  await walk("");
  return { diffs, files, bytes };
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const source = fs.existsSync("/usr/share/doc") ? "/usr/share/doc" : path.join(repoRoot, "packages");
  await fs.promises.rm(demoDir, { recursive: true, force: true });
  await fs.promises.mkdir(demoDir, { recursive: true });

  const config = new ConfigDir(path.join(demoDir, "config"));
  config.ensure();
  // Chunk folders are made on first use: pre-creating PBS's 65,536 folders takes most of a minute
  // on a busy machine and GC would then scan them all; the layout is the same.
  await createDatastore(config, "demo", path.join(demoDir, "datastore"), { lazyChunkFolders: true });
  createUser(config, "demo@pbs");
  const secret = createToken(config, "demo@pbs!demo");
  for (const authId of ["demo@pbs", "demo@pbs!demo"]) setAcl(config, { path: "/datastore/demo", role: "DatastoreAdmin", authId });
  const srv = await startServer({ configDir: config.dir, listen: "127.0.0.1:0", lazyChunkFolders: true });
  say(`server: ${srv.url} (fingerprint ${srv.fingerprint.slice(0, 23)}…), datastore ${path.join(demoDir, "datastore")}`);
  try {
    process.env.CAIRN_PASSWORD = secret;
    const connection = await openConnection({ repository: `demo@pbs!demo@127.0.0.1:${srv.port}:demo`, fingerprint: srv.fingerprint });
    say(`source: ${source}`);

    const now = Math.floor(Date.now() / 1000);
    const first = await backup({ connection, sources: [{ name: "doc.cxar", path: source, kind: "tree" }], backupId: "demo", backupTime: now - 60, changeDetectionMode: "metadata" });
    say(`\nfirst backup\n${summaryText(first, humanBytes)}`);
    const second = await backup({ connection, sources: [{ name: "doc.cxar", path: source, kind: "tree" }], backupId: "demo", backupTime: now, changeDetectionMode: "metadata" });
    say(`\nsecond backup (unchanged source)\n${summaryText(second, humanBytes)}`);
    const ratio = second.uploadedBytes / Math.max(1, first.uploadedBytes);
    say(`second backup uploaded ${humanBytes(second.uploadedBytes)} = ${(ratio * 100).toFixed(3)}% of the first (${humanBytes(first.uploadedBytes)})`);
    if (ratio >= 0.01) throw new ClientError("ERR_DEMO", `the second backup uploaded ${(ratio * 100).toFixed(2)}% of the first (limit 1%)`);

    const snaps = await listSnapshots(connection);
    say(
      `\n${renderTable(snaps, [
        { header: "snapshot", get: (s) => formatSnapshot(s["backup-type"], s["backup-id"], s["backup-time"]) },
        { header: "size", get: (s) => (s.size === undefined ? "" : humanBytes(s.size)), right: true },
        { header: "files", get: (s) => s.files.map((f) => f.filename).join(" ") },
      ])}`,
    );

    const target = path.join(demoDir, "restore");
    const r = await restore({ connection, snapshot: { type: "host", id: "demo" }, archive: "doc.cxar", target });
    say(`\nrestored ${r.snapshot} to ${target}: ${humanBytes(r.bytes)} in ${r.durationSeconds.toFixed(2)} s`);
    const cmp = await compareTrees(source, target);
    if (cmp.diffs.length > 0) {
      for (const d of cmp.diffs.slice(0, 20)) say(`  ${d}`);
      throw new ClientError("ERR_DEMO", `restore differs from the source in ${cmp.diffs.length} places`);
    }
    say(`compared ${cmp.files} files (${humanBytes(cmp.bytes)}): content, mode and mtime identical`);

    const g = await gc(connection);
    say(`\ngc: ${g.status.exitstatus ?? g.status.state} (${g.upid})`);
    for (const line of g.log.slice(-4)) say(`  ${line}`);
    const st = await status(connection);
    say(`status: datastore ${st.store} uses ${humanBytes(st.used)} on a disk with ${humanBytes(st.avail)} free${st["dedup-factor"] ? `, dedup factor ${st["dedup-factor"].toFixed(2)}` : ""}`);
    say(`\ndemo OK in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    await srv.close();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${errorLine(err)}\ndemo FAILED\n`);
    process.exit(1);
  },
);
