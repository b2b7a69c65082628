// Tasks: long operations (GC, verify, prune, backup/reader sessions) get PBS's task id, the UPID
// `UPID:localhost:<pid>:<pstart>:<task n>:<start time>:<type>:<worker>:<user>:` (pid, pstart, n
// and start time as 8 upper-case hex digits; it lands in manifests as a verify state's upid, where
// PBS parses it with that pattern), a log, a progress figure and a final state. Kept in memory
// (the newest 1000); a task's AbortSignal fires on stop or shutdown.

import fs from "node:fs";
import { ProtocolError, type TaskStatus, toProtocolError } from "@cairn/protocol";

/**
 * The code a failed task reports: the error's own (a DatastoreError's ERR_LOCKED, ERR_BAD_INDEX…),
 * ERR_NO_SPACE for a full disk, ERR_SYSTEM_<errno> for another system error, else ERR_INTERNAL.
 */
function taskErrorCode(err: unknown): string {
  const own = (err as { code?: unknown } | null)?.code;
  if (typeof own === "string" && /^ERR_[A-Z0-9_]+$/.test(own)) return own;
  const code = toProtocolError(err).code;
  if (code === "ERR_INTERNAL" && typeof own === "string" && /^E[A-Z]+$/.test(own)) return `ERR_SYSTEM_${own}`;
  return code;
}

/** At least 8 upper-case hex digits, as PBS writes UPID numbers. */
const hex = (n: number): string => n.toString(16).toUpperCase().padStart(8, "0");

/** This process's start time in clock ticks since boot (/proc/self/stat field 22), as PBS's pstart. */
function processStart(): number {
  try {
    const stat = fs.readFileSync("/proc/self/stat", "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[19]);
    return Number.isSafeInteger(ticks) && ticks >= 0 ? ticks : 0;
  } catch {
    return 0;
  }
}

const PSTART = processStart();

export interface TaskContext {
  upid: string;
  signal: AbortSignal;
  log(line: string): void;
  progress(fraction: number): void;
}

interface Task {
  status: TaskStatus;
  lines: string[];
  controller: AbortController;
  done: Promise<void>;
}

const MAX_TASKS = 1000;
const MAX_LOG_LINES = 10_000;

export class TaskManager {
  readonly #tasks = new Map<string, Task>();
  #counter = 0;

  /** Starts `fn` as a task and returns its UPID at once. */
  start(type: string, worker: string, user: string, fn: (ctx: TaskContext) => Promise<string | undefined>): string {
    const starttime = Math.floor(Date.now() / 1000);
    const safeWorker = worker.replace(/[:\s]/g, "-");
    const upid = `UPID:localhost:${hex(process.pid)}:${hex(PSTART)}:${hex(++this.#counter)}:${hex(starttime)}:${type}:${safeWorker}:${user}:`;
    const controller = new AbortController();
    const task: Task = {
      status: { upid, type, worker: safeWorker, user, starttime, state: "running", progress: 0 },
      lines: [],
      controller,
      done: Promise.resolve(),
    };
    const ctx: TaskContext = {
      upid,
      signal: controller.signal,
      log: (line) => {
        if (task.lines.length < MAX_LOG_LINES) task.lines.push(line);
      },
      progress: (f) => {
        task.status.progress = Math.max(0, Math.min(1, f));
      },
    };
    this.#tasks.set(upid, task);
    this.#trim();
    task.done = (async () => {
      ctx.log(`starting task ${upid}`);
      try {
        const summary = await fn(ctx);
        task.status.state = controller.signal.aborted ? "aborted" : "ok";
        task.status.exitstatus = controller.signal.aborted ? "aborted" : "OK";
        task.status.progress = 1;
        if (summary) task.status.status = summary;
        ctx.log(`TASK ${task.status.exitstatus}`);
      } catch (err) {
        task.status.state = controller.signal.aborted ? "aborted" : "error";
        task.status.exitstatus = (err as Error).message ?? String(err);
        task.status.errorcode = controller.signal.aborted ? "ERR_ABORTED" : taskErrorCode(err);
        ctx.log(`TASK ERROR: ${task.status.exitstatus}`);
      }
      task.status.endtime = Math.floor(Date.now() / 1000);
    })();
    return upid;
  }

  /** Runs `fn` as a task and waits for it (sessions: the task lasts as long as the session). */
  async run(type: string, worker: string, user: string, fn: (ctx: TaskContext) => Promise<string | undefined>): Promise<string> {
    const upid = this.start(type, worker, user, fn);
    await this.#tasks.get(upid)!.done;
    return upid;
  }

  get(upid: string): Task {
    const t = this.#tasks.get(upid);
    if (!t) throw new ProtocolError("ERR_NOT_FOUND", `no task ${upid}`);
    return t;
  }

  status(upid: string): TaskStatus {
    return { ...this.get(upid).status };
  }

  log(upid: string, start = 0): Array<{ n: number; t: string }> {
    return this.get(upid).lines.slice(start).map((t, i) => ({ n: start + i + 1, t }));
  }

  list(opts: { running?: boolean; limit?: number } = {}): TaskStatus[] {
    let all = [...this.#tasks.values()].map((t) => ({ ...t.status })).reverse();
    if (opts.running) all = all.filter((s) => s.state === "running");
    return all.slice(0, opts.limit ?? 50);
  }

  stop(upid: string, by?: string): void {
    this.get(upid).controller.abort(new ProtocolError("ERR_ABORTED", by ? `the task was stopped by ${by}` : "the task was stopped"));
  }

  /** Aborts every running task (of one type, if given) and waits for them to end (shutdown, reload). */
  async stopAll(filter: { type?: string } = {}): Promise<void> {
    const running = [...this.#tasks.values()].filter((t) => t.status.state === "running" && (filter.type === undefined || t.status.type === filter.type));
    for (const t of running) t.controller.abort(new ProtocolError("ERR_SHUTDOWN", "server shutting down"));
    await Promise.allSettled(running.map((t) => t.done));
  }

  #trim(): void {
    while (this.#tasks.size > MAX_TASKS) {
      const oldest = [...this.#tasks.entries()].find(([, t]) => t.status.state !== "running");
      if (!oldest) break;
      this.#tasks.delete(oldest[0]);
    }
  }
}
