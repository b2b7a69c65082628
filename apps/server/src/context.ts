// What every route and session handler needs: the config folder, the task list, the opened
// datastores, the verification pool and the logger. Built once by startServer.

import type { FastifyBaseLogger, FastifyRequest } from "fastify";
import { ProtocolError } from "@cairn/protocol";
import type { Caller } from "./auth.js";
import type { ConfigDir } from "./config.js";
import type { StoreRegistry } from "./stores.js";
import type { TaskManager } from "./tasks.js";
import type { WorkerPool } from "./worker-pool.js";

export interface ServerContext {
  config: ConfigDir;
  tasks: TaskManager;
  stores: StoreRegistry;
  pool: WorkerPool;
  log: FastifyBaseLogger;
  /** Open sessions, closed (and backups aborted) on shutdown. */
  sessions: Set<{ shutdown(): Promise<void> }>;
  shuttingDown: boolean;
  /** A reload is handing the listener to a new process: no new GC here (its lock would block it). */
  handingOver: boolean;
}

declare module "fastify" {
  interface FastifyRequest {
    caller?: Caller;
  }
}

export function callerOf(req: FastifyRequest): Caller {
  if (!req.caller) throw new ProtocolError("ERR_AUTH", "authentication required");
  return req.caller;
}
