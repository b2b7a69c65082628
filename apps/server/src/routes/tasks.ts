// Task routes under /api2/json/nodes/localhost/tasks. A caller sees its own tasks; Sys.Audit
// (Admin) sees all.

import { TasksRoutes, ProtocolError } from "@cairn/protocol";
import type { FastifyInstance } from "fastify";
import { hasPriv } from "../acl.js";
import { type ServerContext, callerOf } from "../context.js";
import { userOf } from "../auth.js";

export function registerTaskRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { tasks, config } = ctx;
  // As PBS's check_task_access: Sys.Audit on / sees every task; otherwise a caller sees its own,
  // and a user those of its own tokens. A token does not see its user's or a sibling's tasks.
  const visible = (req: Parameters<typeof callerOf>[0], user: string) => {
    const c = callerOf(req);
    return hasPriv(config, c, "/", "Sys.Audit") || user === c.authId || (!c.isToken && userOf(user) === c.userid);
  };

  app.route({
    ...TasksRoutes.list,
    handler: async (req) => {
      const q = req.query as { running?: boolean; limit?: number };
      return { data: tasks.list({ running: q.running, limit: q.limit ?? 1000 }).filter((t) => visible(req, t.user)).slice(0, q.limit ?? 50) };
    },
  });

  const find = (req: Parameters<typeof callerOf>[0]) => {
    const { upid } = req.params as { upid: string };
    const s = tasks.status(upid);
    if (!visible(req, s.user)) throw new ProtocolError("ERR_NOT_FOUND", `no task ${upid}`);
    return s;
  };

  app.route({ ...TasksRoutes.status, handler: async (req) => ({ data: find(req) }) });
  app.route({
    ...TasksRoutes.log,
    handler: async (req) => {
      const s = find(req);
      return { data: tasks.log(s.upid, (req.query as { start?: number }).start ?? 0) };
    },
  });
  app.route({
    ...TasksRoutes.stop,
    handler: async (req) => {
      tasks.stop(find(req).upid, callerOf(req).authId);
      return { data: null };
    },
  });
}
