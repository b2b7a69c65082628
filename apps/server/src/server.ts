// startServer: assembles the daemon. HTTPS fastify with the config folder's certificate, token
// and ticket authentication on every route but the ticket route, the REST routes, the two
// session upgrade routes, the verification worker pool and graceful shutdown (GC and other
// tasks aborted first, then sessions closed — unfinished backups removed — then the listener).

import fastifyWebsocket from "@fastify/websocket";
import { DatastoreRoutes, MAX_FRAME_SIZE, ProtocolError, toProtocolError } from "@cairn/protocol";
import Fastify, { type FastifyError, type FastifyInstance } from "fastify";
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
import { WorkerPool } from "./worker-pool.js";

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
  const tls = await ensureCertificate(config);
  const { host, port } = parseListen(opts.listen ?? DEFAULT_LISTEN);

  const app = Fastify({
    https: { key: tls.key, cert: tls.cert },
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    bodyLimit: 1024 * 1024,
    ajv: { customOptions: { coerceTypes: "array", removeAdditional: false } },
    forceCloseConnections: true,
  }) as unknown as FastifyInstance;

  const ctx: ServerContext = {
    config,
    tasks: new TaskManager(),
    stores: new StoreRegistry(config, { lazyChunkFolders: opts.lazyChunkFolders }),
    pool: new WorkerPool(opts.workers),
    log: app.log,
    sessions: new Set(),
    shuttingDown: false,
  };

  app.setErrorHandler((err: FastifyError, req, reply) => {
    let pe: ProtocolError;
    if (err.validation) {
      const ctxName = err.validationContext ?? "request";
      const isName = err.validation.some((v) => v.keyword === "pattern" || v.keyword === "maxLength");
      pe = new ProtocolError(isName ? "ERR_BAD_NAME" : "ERR_BAD_REQUEST", `invalid ${ctxName}: ${err.message}`);
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

  await app.register(fastifyWebsocket, { options: { maxPayload: MAX_FRAME_SIZE, perMessageDeflate: false } });

  app.route({ ...DatastoreRoutes.version, handler: async () => ({ data: { version: VERSION, release: "1", repoid: "cairn" } }) });
  registerAccessRoutes(app, ctx);
  registerTaskRoutes(app, ctx);
  registerDatastoreRoutes(app, ctx);
  registerSessionRoutes(app, ctx);

  await app.listen({ host, port });
  const addr = app.server.address();
  const actualPort = typeof addr === "object" && addr ? addr.port : port;
  const urlHost = host.includes(":") ? `[${host}]` : host;

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      ctx.shuttingDown = true;
      await ctx.tasks.stopAll();
      await Promise.allSettled([...ctx.sessions].map((s) => s.shutdown()));
      await app.close();
      await ctx.pool.close();
    })();
    return closing;
  };

  return {
    host,
    port: actualPort,
    url: `https://${urlHost}:${actualPort}`,
    fingerprint: tls.fingerprint,
    certificateCreated: tls.created,
    app,
    close,
  };
}
