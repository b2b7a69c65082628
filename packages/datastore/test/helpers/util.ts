// Shared test helpers: throw-away datastores in real temp folders, chunk makers, child processes.

import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { encodeBlob } from "@cairn/format";
import { DataStore } from "../../src/index.js";

export const HELPERS = path.dirname(new URL(import.meta.url).pathname);

export async function tmpDir(prefix = "cairn-ds-"): Promise<string> {
  return fs.promises.mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A datastore with lazily made chunk folders (65536 folders per test would cost seconds). */
export async function tmpStore(): Promise<{ store: DataStore; dir: string; cleanup: () => Promise<void> }> {
  const dir = await tmpDir();
  const store = await DataStore.create(dir, { lazyChunkFolders: true, lockTimeoutMs: 2000 });
  return { store, dir, cleanup: () => rmrf(dir) };
}

/** rm -rf through the native tool (much faster than fs.rm on many folders). */
export function rmrf(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn("rm", ["-rf", dir], { stdio: "ignore" });
    p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`rm -rf ${dir} exited ${code}`))));
  });
}

export interface TestChunk {
  digest: string;
  blob: Buffer;
  data: Buffer;
}

export function makeChunk(data: Buffer, compress = false): TestChunk {
  return { data, digest: createHash("sha256").update(data).digest("hex"), blob: encodeBlob(data, { compress }) };
}

export function randomChunk(size = 1024): TestChunk {
  return makeChunk(randomBytes(size));
}

export function chunks(n: number, size = 512): TestChunk[] {
  return Array.from({ length: n }, () => randomChunk(size));
}

export function entriesOf(list: TestChunk[]): { end: number; digest: Buffer }[] {
  let end = 0;
  return list.map((c) => {
    end += c.data.length;
    return { end, digest: Buffer.from(c.digest, "hex") };
  });
}

/** Finish a complete backup with the given chunks in one dynamic index. */
export async function backup(
  store: DataStore,
  opts: { ns?: string; type?: "vm" | "ct" | "host"; id?: string; time: number; owner?: string },
  list: TestChunk[],
): Promise<void> {
  const w = await store.openBackup({ type: "host", id: "h1", owner: "root@pam", ...opts });
  for (const c of list) await w.insertChunk(c.digest, c.blob);
  await w.writeDynamicIndex("root.pxar.didx", entriesOf(list));
  await w.finish();
}

/** Set a chunk's atime (seconds ago) keeping its mtime. */
export function ageChunk(store: DataStore, digest: string, secondsAgo: number): void {
  const p = store.layout.chunkPath(digest);
  const st = fs.statSync(p);
  fs.utimesSync(p, Date.now() / 1000 - secondsAgo, st.mtimeMs / 1000);
}

export function ageAll(store: DataStore, list: TestChunk[], secondsAgo: number): void {
  for (const c of list) ageChunk(store, c.digest, secondsAgo);
}

/** A child `node` process running test/helpers/child.mjs, talking JSON lines. */
export class Child {
  readonly proc: ChildProcess;
  private readonly lines: string[] = [];
  private waiters: ((l: string | undefined) => void)[] = [];
  private closed = false;
  readonly exited: Promise<number | null>;

  constructor(script: string, args: unknown) {
    this.proc = spawn(process.execPath, [path.join(HELPERS, script), JSON.stringify(args)], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    const rl = createInterface({ input: this.proc.stdout! });
    rl.on("line", (l) => {
      const w = this.waiters.shift();
      if (w) w(l);
      else this.lines.push(l);
    });
    this.exited = new Promise((r) =>
      this.proc.on("exit", (code) => {
        this.closed = true;
        for (const w of this.waiters.splice(0)) w(undefined);
        r(code);
      }),
    );
  }

  /** The next JSON message from the child. */
  async next(timeoutMs = 20_000): Promise<Record<string, unknown>> {
    const l =
      this.lines.shift() ??
      (this.closed
        ? undefined
        : await new Promise<string | undefined>((resolve, reject) => {
            const t = setTimeout(() => reject(new Error("child did not answer in time")), timeoutMs);
            this.waiters.push((x) => {
              clearTimeout(t);
              resolve(x);
            });
          }));
    if (l === undefined) throw new Error("child exited without answering");
    return JSON.parse(l) as Record<string, unknown>;
  }

  send(msg = "go"): void {
    this.proc.stdin!.write(`${msg}\n`);
  }

  kill(): void {
    this.proc.kill("SIGKILL");
  }
}

export async function startChild(args: Record<string, unknown>): Promise<Child> {
  const c = new Child("child.mjs", args);
  const first = await c.next();
  if (first.ready !== true) throw new Error(`child failed: ${JSON.stringify(first)}`);
  return c;
}
