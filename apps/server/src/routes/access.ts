// Routes under /api2/json/access: tickets from passwords, users, tokens, ACL. Managing users and
// ACLs needs Sys.Modify on `/` (Admin); reading them Sys.Audit.

import { AccessRoutes, type AclEntry } from "@cairn/protocol";
import type { FastifyInstance } from "fastify";
import { createToken, createUser, issueTicket } from "../auth.js";
import { requirePriv, setAcl } from "../acl.js";
import { type ServerContext, callerOf } from "../context.js";

export function registerAccessRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { config } = ctx;

  app.route({
    ...AccessRoutes.ticket,
    config: { public: true },
    handler: async (req) => {
      const body = req.body as { username: string; password: string };
      const t = await issueTicket(config, body.username, body.password);
      return { data: { username: body.username, ticket: t.ticket, expires: t.expires } };
    },
  });

  app.route({
    ...AccessRoutes.listUsers,
    handler: async (req) => {
      requirePriv(config, callerOf(req), "/", "Sys.Audit");
      const f = config.userFile();
      return {
        data: Object.entries(f.users).map(([userid, u]) => ({
          userid,
          enable: u.enable,
          comment: u.comment,
          tokens: Object.keys(f.tokens).filter((t) => t.startsWith(`${userid}!`)),
        })),
      };
    },
  });

  app.route({
    ...AccessRoutes.createUser,
    handler: async (req) => {
      requirePriv(config, callerOf(req), "/", "Sys.Modify");
      const b = req.body as { userid: string; password?: string; comment?: string };
      createUser(config, b.userid, b.password, b.comment);
      return { data: null };
    },
  });

  app.route({
    ...AccessRoutes.createToken,
    handler: async (req) => {
      const caller = callerOf(req);
      const p = req.params as { userid: string; name: string };
      // Users may make tokens for themselves (not from a token); admins for anyone.
      if (caller.isToken || caller.userid !== p.userid) requirePriv(config, caller, "/", "Sys.Modify");
      const tokenid = `${p.userid}!${p.name}`;
      const value = createToken(config, tokenid);
      return { data: { tokenid, value } };
    },
  });

  app.route({
    ...AccessRoutes.getAcl,
    handler: async (req) => {
      requirePriv(config, callerOf(req), "/", "Sys.Audit");
      const data: AclEntry[] = config.acl().map((e) => ({ path: e.path, role: e.role, "auth-id": e.authId, propagate: e.propagate }));
      return { data };
    },
  });

  app.route({
    ...AccessRoutes.setAcl,
    handler: async (req) => {
      requirePriv(config, callerOf(req), "/", "Sys.Modify");
      const b = req.body as { path: string; role: string; "auth-id": string; propagate?: boolean; delete?: boolean };
      setAcl(config, { path: b.path, role: b.role, authId: b["auth-id"], propagate: b.propagate, remove: b.delete });
      return { data: null };
    },
  });
}
