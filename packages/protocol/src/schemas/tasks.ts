// Task routes: long operations (GC, verify, prune, backup and reader sessions) are tasks with a
// UPID-like id, a state, a progress figure and a log (spec: protocol.md "Management API").

import { type Static, Type } from "@sinclair/typebox";
import { Data } from "./common.js";

export const TaskState = Type.Union([Type.Literal("running"), Type.Literal("ok"), Type.Literal("error"), Type.Literal("aborted")]);

export const TaskStatus = Type.Object({
  upid: Type.String(),
  type: Type.String(),
  worker: Type.String(),
  user: Type.String(),
  starttime: Type.Integer(),
  endtime: Type.Optional(Type.Integer()),
  state: TaskState,
  status: Type.Optional(Type.String()),
  progress: Type.Number(),
  exitstatus: Type.Optional(Type.String()),
  /** The error code of a task that failed (`ERR_LOCKED`, `ERR_NO_SPACE`, `ERR_SYSTEM_EPERM`, …). */
  errorcode: Type.Optional(Type.String()),
});
export type TaskStatus = Static<typeof TaskStatus>;

export const UpidParams = Type.Object({ upid: Type.String({ maxLength: 256 }) });

export const TasksRoutes = {
  list: {
    method: "GET",
    url: "/api2/json/nodes/localhost/tasks",
    schema: {
      querystring: Type.Object({
        running: Type.Optional(Type.Boolean()),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
      }),
      response: { 200: Data(Type.Array(TaskStatus)) },
    },
  },
  status: {
    method: "GET",
    url: "/api2/json/nodes/localhost/tasks/:upid/status",
    schema: { params: UpidParams, response: { 200: Data(TaskStatus) } },
  },
  log: {
    method: "GET",
    url: "/api2/json/nodes/localhost/tasks/:upid/log",
    schema: {
      params: UpidParams,
      querystring: Type.Object({ start: Type.Optional(Type.Integer({ minimum: 0 })) }),
      response: { 200: Data(Type.Array(Type.Object({ n: Type.Integer(), t: Type.String() }))) },
    },
  },
  stop: {
    method: "DELETE",
    url: "/api2/json/nodes/localhost/tasks/:upid",
    schema: { params: UpidParams, response: { 200: Data(Type.Null()) } },
  },
} as const;
