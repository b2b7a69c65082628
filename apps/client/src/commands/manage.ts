// The management commands over the REST API: `list` (groups), `snapshots`, `forget`, `prune`,
// `gc`, `verify`, `status`, `task log`. Each returns plain data; cli.ts prints it as a table or
// JSON. Long operations (GC, verify) are server tasks: we start them and follow their log to the end.

import type { GroupInfo, KeepOptions, PruneEntry, SnapshotInfo, TaskStatus } from "@cairn/protocol/client";
import { type Connection, restClient } from "../connection.js";
import { ClientError } from "../errors.js";
import { onInterrupt } from "../interrupt.js";
import { resolveSnapshotTime } from "../remote.js";
import { formatSnapshot, type GroupSpec, type SnapshotSpec } from "../snapshot-spec.js";

async function withClient<T>(conn: Connection, f: (c: ReturnType<typeof restClient>) => Promise<T>): Promise<T> {
  const c = restClient(conn);
  try {
    return await f(c);
  } finally {
    await c.close();
  }
}

export function listGroups(conn: Connection): Promise<GroupInfo[]> {
  return withClient(conn, (c) => c.listGroups(conn.store, conn.ns));
}

export function listSnapshots(conn: Connection, group?: GroupSpec): Promise<SnapshotInfo[]> {
  return withClient(conn, async (c) => {
    const list = await c.listSnapshots(conn.store, { ns: conn.ns, "backup-type": group?.type, "backup-id": group?.id });
    return list.sort((a, b) => a["backup-type"].localeCompare(b["backup-type"]) || a["backup-id"].localeCompare(b["backup-id"]) || a["backup-time"] - b["backup-time"]);
  });
}

export async function forget(conn: Connection, spec: SnapshotSpec): Promise<{ snapshot: string }> {
  if (spec.time === undefined) throw new ClientError("ERR_SNAPSHOT_SPEC", "forget needs a full snapshot (TYPE/ID/TIME), not a group");
  const time = await resolveSnapshotTime(conn, spec);
  await withClient(conn, (c) => c.forgetSnapshot(conn.store, { ns: conn.ns, "backup-type": spec.type, "backup-id": spec.id, "backup-time": time }));
  return { snapshot: formatSnapshot(spec.type, spec.id, time) };
}

export function prune(conn: Connection, group: GroupSpec, keep: KeepOptions, dryRun: boolean): Promise<PruneEntry[]> {
  if (Object.values(keep).every((v) => v === undefined)) throw new ClientError("ERR_USAGE", "prune needs at least one --keep-* option");
  return withClient(conn, (c) => c.prune(conn.store, { ns: conn.ns, "backup-type": group.type, "backup-id": group.id }, keep, dryRun));
}

export interface TaskResult {
  upid: string;
  status: TaskStatus;
  log: string[];
}

/**
 * Starts a server task and follows it to its end, however long (a GC of a large store takes
 * hours): each new log line goes to `onLine` as it appears, as PBS's client shows a task's log.
 * Ctrl-C stops the task on the server, then cairn exits.
 */
async function runTask(conn: Connection, start: (c: ReturnType<typeof restClient>) => Promise<string>, onLine?: (line: string) => void): Promise<TaskResult> {
  return withClient(conn, async (c) => {
    const upid = await start(c);
    // stopped at the last moment, the task may have ended on its own: the line says which
    let final: TaskStatus | undefined;
    const stopped = onInterrupt(
      () => (final && final.state !== "aborted" && final.state !== "running" ? `task ${upid} had already ended (${final.exitstatus ?? final.state}) when it was to be stopped` : `task ${upid} was stopped on the server`),
      async () => {
        await c.stopTask(upid).catch(() => {});
        final = await c.waitTask(upid, 50, 3000).catch(() => undefined);
      },
    );
    try {
      const log: string[] = [];
      const follow = async () => {
        for (const l of await c.taskLog(upid, log.length)) {
          log.push(l.t);
          onLine?.(l.t);
        }
      };
      let status: TaskStatus;
      for (let wait = 50; ; wait = Math.min(1000, wait * 2)) {
        status = await c.taskStatus(upid);
        await follow();
        if (status.state !== "running") break;
        await new Promise((r) => setTimeout(r, wait));
      }
      return { upid, status, log };
    } finally {
      stopped();
    }
  });
}

export function gc(conn: Connection, onLine?: (line: string) => void): Promise<TaskResult> {
  return runTask(conn, (c) => c.startGc(conn.store), onLine);
}

export function verify(conn: Connection, spec?: SnapshotSpec, onLine?: (line: string) => void): Promise<TaskResult> {
  return runTask(conn, async (c) => {
    const sel: Record<string, unknown> = { ns: conn.ns };
    if (spec) {
      sel["backup-type"] = spec.type;
      sel["backup-id"] = spec.id;
      if (spec.time !== undefined) sel["backup-time"] = spec.time;
    }
    return c.verify(conn.store, sel);
  }, onLine);
}

export function status(conn: Connection) {
  return withClient(conn, async (c) => ({ store: conn.store, ...(await c.datastoreStatus(conn.store)) }));
}

export function taskLog(conn: Connection, upid: string): Promise<{ upid: string; status: TaskStatus; log: string[] }> {
  return withClient(conn, async (c) => {
    const [st, log] = await Promise.all([c.taskStatus(upid), c.taskLog(upid)]);
    return { upid, status: st, log: log.map((l) => l.t) };
  });
}
