// startServer: assembles the daemon. HTTPS fastify with the config folder's certificate, token
// and ticket authentication on every route but the ticket route, the REST routes, the two
// session upgrade routes, the verification worker pool and graceful shutdown (GC and other
// tasks aborted first, then sessions closed — unfinished backups removed — then the listener).
// For a graceful restart (reload.ts) it can also start on a listener handed over by its
// predecessor, and hand its own over: stop accepting, let running sessions finish, then exit.

import net from "node:net";
import fastifyWebsocket from "@fastify/websocket";
import { DatastoreRoutes, MAX_FRAME_SIZE, ProtocolError, toProtocolError } from "@cairn/protocol";
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from "fastify";
import type { Logger } from "pino";
import { authenticate } from "./auth.js";
import { ensureCertificate } from "./cert.js";
import { ConfigDir } from "./config.js";
import type { ServerContext } from "./context.js";
import { registerAccessRoutes } from "./routes/access.js";
import { registerDatastoreRoutes } from "./routes/datastore.js";
import { registerSessionRoutes } from "./routes/sessions.js";
import { registerTaskRoutes } from "./routes/tasks.js";
import { StoreRegistry } from "./stores.js";
import { TaskManager } from "./tasks.js";
import { type SchemaError, validationMessage } from "./validation-message.js";
import { WorkerPool } from "./worker-pool.js";
import { setSessionTimeout } from "./session-transport.js";

export const DEFAULT_LISTEN = "127.0.0.1:8007";
export const VERSION = "0.1.0";

export interface StartServerOptions {
  configDir: string;
  /** `HOST:PORT` (port 0 = random). Default 127.0.0.1:8007. */
  listen?: string;
  /** A pino logger; false or absent = silent. */
  logger?: Logger | false;
  /** Verification workers (default os.availableParallelism()). */
  workers?: number;
  /** Datastores created through the API get lazily made chunk folders (tests). */
  lazyChunkFolders?: boolean;
  /** A listening socket handed over by the previous generation (reload); replaces `listen`'s bind. */
  listenHandle?: net.Server;
  /** Restart generation (1 = first start), reported in logs and the x-cairn-generation header. */
  generation?: number;
  /** Sessions whose client sends nothing (not even a pong) for this long are closed (default 120 s; per process). */
  sessionTimeoutMs?: number;
}

export interface RunningServer {
  host: string;
  port: number;
  /** `https://host:port` */
  url: string;
  /** SHA-256 fingerprint of the server certificate (colon hex). */
  fingerprint: string;
  /** True when this start made the certificate. */
  certificateCreated: boolean;
  app: FastifyInstance;
  /** Process id and restart generation serving this instance (also sent as x-cairn-pid). */
  pid: number;
  generation: number;
  /** Reload, step 1: abort a running GC (its exclusive lock would block the successor's backups). */
  prepareHandover(): Promise<void>;
  /** Reload, step 2: stop accepting connections; running sessions and requests go on. */
  stopAccepting(): void;
  /** Resolves when every connection has closed and every task (sessions, verify) has ended. */
  drained(): Promise<void>;
  /** Reload failed: take GC requests again. */
  cancelHandover(): void;
  close(): Promise<void>;
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) throw new ProtocolError("ERR_BAD_REQUEST", `--listen expects HOST:PORT, got "${listen}"`);
  return { host: m[1] ?? m[2], port };
}

export async function startServer(opts: StartServerOptions): Promise<RunningServer> {
  const config = new ConfigDir(opts.configDir);
  config.ensure();
  config.authKey();
  if (opts.sessionTimeoutMs !== undefined) setSessionTimeout(opts.sessionTimeoutMs);
  const tls = await ensureCertificate(config);
  const { host, port } = parseListen(opts.listen ?? DEFAULT_LISTEN);

  const app = Fastify({
    https: { key: tls.key, cert: tls.cert },
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    bodyLimit: 1024 * 1024,
    ajv: { customOptions: { coerceTypes: "array", removeAdditional: false } },
    forceCloseConnections: true,
    // Router failures (a malformed URL, a path parameter over 100 characters) happen before the
    // error handler; without this they would answer fastify's own, untyped body (found by fuzzing).
    frameworkErrors: (err, _req, reply) => {
      const code = err.code === "FST_ERR_MAX_PARAM_LENGTH" ? "ERR_BAD_NAME" : "ERR_BAD_REQUEST";
      (reply as unknown as FastifyReply).status(400).send(new ProtocolError(code, err.message).toBody());
    },
    // A request node's HTTP parser cannot read (garbage, headers over 16 KiB) never reaches a
    // route: it is answered here in the same `{error: {code, message}}` shape as every other error.
    clientErrorHandler: (err: Error & { code?: string }, socket: net.Socket) => {
      if (err.code === "ECONNRESET" || !socket.writable) {
        socket.destroy();
        return;
      }
      const [status, text] = err.code === "HPE_HEADER_OVERFLOW" ? [431, "Request Header Fields Too Large"] : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? [408, "Request Timeout"] : [400, "Bad Request"];
      const body = JSON.stringify(new ProtocolError("ERR_BAD_REQUEST", `the HTTP request could not be read (${err.code ?? "parse error"}: ${err.message})`).toBody());
      socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    },
  }) as unknown as FastifyInstance;

  const ctx: ServerContext = {
    config,
    tasks: new TaskManager(),
    stores: new StoreRegistry(config, { lazyChunkFolders: opts.lazyChunkFolders, predecessorRunning: opts.listenHandle !== undefined }),
    pool: new WorkerPool(opts.workers),
    log: app.log,
    sessions: new Set(),
    shuttingDown: false,
    handingOver: false,
  };
  const generation = opts.generation ?? 1;
  let draining = false;

  app.setErrorHandler((err: FastifyError, req, reply) => {
    let pe: ProtocolError;
    if (err.validation) {
      const ctxName = err.validationContext ?? "request";
      const isName = err.validation.some((v) => v.keyword === "pattern" || v.keyword === "maxLength");
      pe = new ProtocolError(isName ? "ERR_BAD_NAME" : "ERR_BAD_REQUEST", validationMessage(ctxName, err.validation as unknown as SchemaError[]));
    } else if (typeof err.statusCode === "number" && err.statusCode < 500 && !(err instanceof ProtocolError) && !/^ERR_[A-Z_]+$/.test(err.code ?? "")) {
      pe = new ProtocolError("ERR_BAD_REQUEST", err.message, { status: err.statusCode });
    } else {
      pe = toProtocolError(err);
    }
    if (pe.status >= 500) req.log.error({ err }, "request failed");
    reply.status(pe.status).send(pe.toBody());
  });
  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send(new ProtocolError("ERR_NOT_FOUND", `no route ${req.method} ${req.url.split("?")[0]}`).toBody());
  });

  app.addHook("onRequest", async (req) => {
    if (ctx.shuttingDown) throw new ProtocolError("ERR_SHUTDOWN", "server is shutting down");
    if ((req.routeOptions.config as { public?: boolean } | undefined)?.public) return;
    req.caller = authenticate(config, req.headers);
  });

  // As PBS's router: a query parameter the route does not define is refused by name, instead of
  // being ignored (a misspelt `backup-id` would otherwise widen a listing or a selection).
  app.addHook("preValidation", async (req) => {
    const props = (req.routeOptions.schema?.querystring as { properties?: Record<string, unknown> } | undefined)?.properties;
    if (!props) return;
    for (const k of Object.keys((req.query ?? {}) as object)) {
      if (!Object.hasOwn(props, k)) {
        const known = Object.keys(props);
        throw new ProtocolError("ERR_BAD_REQUEST", `unknown query parameter ${JSON.stringify(k)}${known.length ? ` (this route takes ${known.join(", ")})` : " (this route takes none)"}`);
      }
    }
  });

  // Which process answered: during a reload two generations serve at once, and tests and
  // operators need to tell them apart.
  app.addHook("onSend", async (_req, reply) => {
    reply.header("x-cairn-pid", String(process.pid));
    reply.header("x-cairn-generation", String(generation));
    // The old generation answers requests already on its connections, then lets keep-alive
    // clients reconnect — to the new generation, which now owns the listener.
    if (draining) reply.header("connection", "close");
  });

  await app.register(fastifyWebsocket, { options: { maxPayload: MAX_FRAME_SIZE, perMessageDeflate: false } });

  app.route({ ...DatastoreRoutes.version, handler: async () => ({ data: { version: VERSION, release: "1", repoid: "cairn" } }) });
  registerAccessRoutes(app, ctx);
  registerTaskRoutes(app, ctx);
  registerDatastoreRoutes(app, ctx);
  registerSessionRoutes(app, ctx);
  app.websocketServer.on("headers", (headers: string[]) => {
    headers.push(`x-cairn-pid: ${process.pid}`, `x-cairn-generation: ${generation}`);
  });

  if (opts.listenHandle) {
    // net.Server.listen takes the raw TCP handle; the predecessor keeps its copy until we are ready.
    const handle = (opts.listenHandle as unknown as { _handle: unknown })._handle;
    if (!handle) throw new ProtocolError("ERR_INTERNAL", "the listener handed over by the previous generation is closed");
    await app.listen({ handle, host } as unknown as { host: string });
  } else {
    await app.listen({ host, port });
  }
  // Start-up cleanup (leftovers of a crash: unfinished snapshots nobody holds, temp chunks) runs
  // now rather than on first use; requests for a store wait for its opening anyway.
  for (const name of ctx.stores.names()) {
    ctx.stores.get(name).catch((err) => app.log.warn({ err, store: name }, "cannot open datastore"));
  }
  const addr = app.server.address();
  const actualPort = typeof addr === "object" && addr ? addr.port : port;
  const urlHost = host.includes(":") ? `[${host}]` : host;

  let closing: Promise<void> | undefined;
  let listenerClosed: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      ctx.shuttingDown = true;
      await ctx.tasks.stopAll();
      await Promise.allSettled([...ctx.sessions].map((s) => s.shutdown()));
      // After a handover the listener is closed already; fastify would then fail its own close.
      if (listenerClosed) await listenerClosed;
      else await app.close();
      await ctx.pool.close();
    })();
    return closing;
  };

  const prepareHandover = async () => {
    ctx.handingOver = true;
    await ctx.tasks.stopAll({ type: "garbage_collection" });
  };

  const stopAccepting = () => {
    if (listenerClosed) return;
    draining = true;
    // Only the listening socket closes. Node's http close() would also drop idle keep-alive
    // connections, racing a client that is just sending its next request on one ("other side
    // closed", seen in the reload test). Instead each connection answers its next request with
    // Connection: close (above), idle ones end by the client's keep-alive timeout (or ours), and
    // session sockets when their session ends; the callback runs once the last one is gone.
    listenerClosed = new Promise<void>((resolve) => net.Server.prototype.close.call(app.server, () => resolve()));
  };

  const drained = async () => {
    stopAccepting();
    await listenerClosed;
    while (ctx.tasks.list({ running: true, limit: 1 }).length > 0) await new Promise((r) => setTimeout(r, 200));
  };

  return {
    host,
    port: actualPort,
    url: `https://${urlHost}:${actualPort}`,
    fingerprint: tls.fingerprint,
    certificateCreated: tls.created,
    app,
    pid: process.pid,
    generation,
    prepareHandover,
    stopAccepting,
    drained,
    cancelHandover: () => {
      ctx.handingOver = false;
    },
    close,
  };
}
