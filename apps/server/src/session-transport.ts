// The server end of a session socket, shared by backup and reader sessions: decodes frames,
// validates the request header and the op's params with compiled TypeBox checks, runs handlers
// concurrently (answers may go out of order), answers errors as `{id, ok:false, error}`, and
// pauses reading while too many requests are being handled. An unparseable frame ends the
// session with close code 4400 and a reason naming the fault.

import {
  CLOSE_CODES,
  type CompiledOp,
  ProtocolError,
  RequestHeaderCheck,
  decodeFrame,
  describeCheckError,
  encodeFrame,
  keepAlive,
  toProtocolError,
} from "@cairn/protocol";
import type { FastifyBaseLogger } from "fastify";
import type { WebSocket } from "ws";
import { handOver } from "./worker-pool.js";

export type OpHandler = (params: Record<string, unknown>, body: Buffer) => Promise<{ result: unknown; body?: Uint8Array }>;

/**
 * A client that sends nothing, not even a pong, for this long is cut off, so that a stopped
 * client (SIGSTOP, a hung machine) does not hold its group's lock for ever; `cairn-server start
 * --session-timeout` sets it for the process.
 */
let sessionTimeoutMs = 120_000;

export function setSessionTimeout(ms: number): void {
  sessionTimeoutMs = ms;
}

const PAUSE_AT = 64;
const RESUME_AT = 16;

/**
 * Bytes of request frames being handled across all sessions of the process. Above HIGH, every
 * socket that delivers another frame stops reading (TCP pushes back to its client) until the
 * total falls below LOW, so many fast clients cannot pile up unbounded memory in the server.
 */
const budget = { used: 0, HIGH: 64 * 1024 * 1024, LOW: 32 * 1024 * 1024, paused: new Set<SessionTransport>() };

function releaseBudget(bytes: number): void {
  budget.used -= bytes;
  if (budget.used <= budget.LOW && budget.paused.size > 0) {
    const all = [...budget.paused];
    budget.paused.clear();
    for (const t of all) t.resumeFromBudget();
  }
}

export class SessionTransport {
  readonly ws: WebSocket;
  readonly #ops: ReadonlyMap<string, CompiledOp>;
  readonly #handle: (op: string, params: Record<string, unknown>, body: Buffer) => Promise<{ result: unknown; body?: Uint8Array }>;
  readonly #log: FastifyBaseLogger;
  #active = 0;
  #paused = false;
  #closed = false;
  /** Resolves when the socket has closed; carries the close code. */
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(
    ws: WebSocket,
    ops: ReadonlyMap<string, CompiledOp>,
    handle: (op: string, params: Record<string, unknown>, body: Buffer) => Promise<{ result: unknown; body?: Uint8Array }>,
    log: FastifyBaseLogger,
  ) {
    this.ws = ws;
    this.#ops = ops;
    this.#handle = handle;
    this.#log = log;
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        this.#closed = true;
        budget.paused.delete(this);
        resolve({ code, reason: reason.toString() });
      });
    });
    ws.on("error", (err) => this.#log.warn({ err }, "session socket error"));
    keepAlive(ws, {
      timeoutMs: sessionTimeoutMs,
      // while this end holds back reading, the client's pongs wait unread
      paused: () => this.#paused || budget.paused.has(this),
      onDead: (silent) => {
        this.#log.warn({ silentMs: silent }, "session client sent nothing, not even a pong: closing the session");
        this.ws.terminate();
      },
    });
    ws.on("message", (data, isBinary) => this.#onMessage(data as Buffer, isBinary));
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  close(code: number, reason: string): void {
    if (this.#closed) return;
    // Close reasons are limited to 123 bytes.
    this.ws.close(code, Buffer.from(reason).subarray(0, 120).toString());
    const t = setTimeout(() => this.ws.terminate(), 5000);
    t.unref();
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (this.#closed) return;
    if (!isBinary) {
      this.close(CLOSE_CODES.BAD_FRAME, "text message: sessions speak binary frames only");
      return;
    }
    let frame: ReturnType<typeof decodeFrame>;
    try {
      frame = decodeFrame(data);
    } catch (err) {
      this.close(CLOSE_CODES.BAD_FRAME, (err as Error).message);
      return;
    }
    // A message that fills its own ArrayBuffer (ws allocates one per large message) is ours alone:
    // its body may be handed to a worker without a copy.
    if (frame.body.length > 0 && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) handOver(frame.body);
    const header = frame.header as { id?: unknown };
    if (!RequestHeaderCheck.Check(header)) {
      const id = typeof header.id === "number" && Number.isInteger(header.id) && header.id >= 0 ? header.id : 0;
      const msg = `malformed request header: ${describeCheckError(RequestHeaderCheck, header)}`;
      this.#answerError(id, new ProtocolError("ERR_BAD_FRAME", msg));
      this.close(CLOSE_CODES.BAD_FRAME, msg);
      return;
    }
    const { id, op } = header;
    const params = header.params ?? {};
    const spec = this.#ops.get(op);
    if (!spec) {
      this.#answerError(id, new ProtocolError("ERR_UNKNOWN_OP", `unknown op "${op.slice(0, 64)}"`));
      return;
    }
    if (!spec.params.Check(params)) {
      this.#answerError(id, new ProtocolError("ERR_BAD_REQUEST", `${op}: invalid params ${describeCheckError(spec.params, params)}`));
      return;
    }
    if (!spec.body && frame.body.length > 0) {
      this.#answerError(id, new ProtocolError("ERR_BAD_REQUEST", `${op} takes no body`));
      return;
    }
    this.#active++;
    const bytes = data.length;
    budget.used += bytes;
    if (this.#active >= PAUSE_AT && !this.#paused) {
      this.#paused = true;
      this.ws.pause();
    }
    if (budget.used > budget.HIGH && !budget.paused.has(this)) {
      budget.paused.add(this);
      this.ws.pause();
    }
    this.#handle(op, params, frame.body)
      .then(
        (r) => this.#send(encodeFrame({ id, ok: true, result: r.result }, r.body)),
        (err) => this.#answerError(id, err),
      )
      .finally(() => {
        this.#active--;
        releaseBudget(bytes);
        if (this.#paused && this.#active <= RESUME_AT) {
          this.#paused = false;
          if (!budget.paused.has(this)) this.ws.resume();
        }
      });
  }

  /** @internal: the process-wide byte budget has room again. */
  resumeFromBudget(): void {
    if (!this.#paused && !this.#closed) this.ws.resume();
  }

  #answerError(id: number, err: unknown): void {
    const pe = toProtocolError(err);
    // a request still running when its session closed fails on the closed files: that is the
    // close (logged once by the session), not a server fault
    if (pe.status >= 500 && !this.#closed) this.#log.error({ err }, "session request failed");
    else if (pe.status >= 500) this.#log.debug({ code: pe.code, message: pe.message }, "request of a closed session failed");
    this.#send(encodeFrame({ id, ok: false, error: { code: pe.code, message: pe.message } }));
  }

  #send(frame: Buffer): void {
    if (this.#closed || this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(frame, { binary: true });
  }
}
