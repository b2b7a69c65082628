// Test helpers: temp dirs, archive encoding into memory, and a tree snapshot that compares
// everything the archive promises to keep (type, mode, uid/gid, mtime, content, link targets,
// hardlink inode sharing).

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { lstat, mkdtemp, readdir, readFile, readlink, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type EncodeOptions, encodeArchive } from "../../src/index.js";

export async function tempDir(prefix = "cxar-test-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export async function encodeToBuffer(root: string | Buffer, opts: EncodeOptions = {}): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of encodeArchive(root, opts)) parts.push(Buffer.from(p));
  return Buffer.concat(parts);
}

export interface NodeInfo {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  size: number;
  hash?: string;
  target?: string;
  rdev?: bigint;
  /** Smallest path key of the files sharing this inode ("" if not multiply linked). */
  linkGroup: string;
}

function typeOf(mode: number): string {
  switch (mode & 0o170000) {
    case 0o040000:
      return "dir";
    case 0o100000:
      return "file";
    case 0o120000:
      return "symlink";
    case 0o020000:
      return "chr";
    case 0o060000:
      return "blk";
    case 0o010000:
      return "fifo";
    default:
      return "other";
  }
}

/** Snapshot keyed by the hex of the relative path bytes ("" for the root). */
export async function snapshot(root: string, opts: { skipRootMeta?: boolean } = {}): Promise<Map<string, NodeInfo>> {
  const out = new Map<string, NodeInfo>();
  const inodes = new Map<bigint, string[]>();
  const rootBuf = Buffer.from(root);
  async function visit(abs: Buffer, rel: Buffer): Promise<void> {
    const st = await lstat(abs, { bigint: true });
    const mode = Number(st.mode);
    const info: NodeInfo = {
      type: typeOf(mode),
      mode: mode & 0o7777,
      uid: Number(st.uid),
      gid: Number(st.gid),
      mtimeNs: st.mtimeNs,
      size: info_size(mode, st.size),
      linkGroup: "",
    };
    const key = rel.toString("hex");
    if (info.type === "file") {
      info.hash = createHash("sha256").update(await readFile(abs)).digest("hex");
      if (st.nlink > 1n) inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), key]);
    } else if (info.type === "symlink") {
      info.target = (await readlink(abs, { encoding: "buffer" })).toString("hex");
      info.mode = 0;
    } else if (info.type === "chr" || info.type === "blk") {
      info.rdev = st.rdev;
    }
    if (rel.length === 0 && opts.skipRootMeta) {
      info.mtimeNs = 0n;
      info.mode = 0;
    }
    out.set(key, info);
    if (info.type === "dir") {
      const names = await readdir(abs, { encoding: "buffer" });
      for (const n of names) {
        await visit(Buffer.concat([abs, Buffer.from("/"), n]), rel.length ? Buffer.concat([rel, Buffer.from("/"), n]) : n);
      }
    }
  }
  await visit(rootBuf, Buffer.alloc(0));
  // hardlink groups named by their smallest member so two trees compare
  for (const keys of inodes.values()) {
    const sorted = keys.sort();
    for (const k of sorted) out.get(k)!.linkGroup = sorted.length > 1 ? sorted[0] : "";
  }
  return out;
}

function info_size(mode: number, size: bigint): number {
  return (mode & 0o170000) === 0o100000 ? Number(size) : 0;
}

/** Differences between two snapshots; mtimes may differ by `mtimeSlackNs` (Node's utimes is a double). */
export function diffSnapshots(a: Map<string, NodeInfo>, b: Map<string, NodeInfo>, mtimeSlackNs = 1000n): string[] {
  const out: string[] = [];
  for (const [k, x] of a) {
    const y = b.get(k);
    const name = Buffer.from(k, "hex").toString("latin1");
    if (!y) {
      out.push(`missing: ${JSON.stringify(name)}`);
      continue;
    }
    const { mtimeNs: mx, ...rx } = x;
    const { mtimeNs: my, ...ry } = y;
    const d = mx > my ? mx - my : my - mx;
    if (d > mtimeSlackNs) out.push(`mtime ${JSON.stringify(name)}: ${mx} vs ${my}`);
    const sx = JSON.stringify(rx, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
    const sy = JSON.stringify(ry, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
    if (sx !== sy) out.push(`differs ${JSON.stringify(name)}: ${sx} vs ${sy}`);
  }
  for (const k of b.keys()) if (!a.has(k)) out.push(`extra: ${JSON.stringify(Buffer.from(k, "hex").toString("latin1"))}`);
  return out;
}

export function tryExec(cmd: string, args: string[]): string | undefined {
  try {
    execFileSync(cmd, args, { stdio: "pipe" });
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}
