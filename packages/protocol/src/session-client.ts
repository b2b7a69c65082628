// The client end of a session: one WebSocket, many requests in flight. Each request gets an id;
// answers are matched by id in any order; a semaphore bounds the window so that a fast producer
// cannot queue unbounded bytes. Any transport failure rejects every pending request and marks
// the session broken (further calls fail at once with the same error).

import WebSocket from "ws";
import { ProtocolError, errorFromBody, isErrorCode } from "./errors.js";
import { decodeFrame, encodeFrame, MAX_FRAME_SIZE } from "./framing.js";
import { type Endpoint, hostForUrl } from "./connection.js";
import { isAnswerHeader } from "./answer-header.js";
import { keepAlive } from "./keep-alive.js";
import { connectTrusted } from "./tls-pinning.js";

/** How long a session waits on a silent server (see keep-alive.ts). */
export const DEFAULT_SESSION_TIMEOUT_MS = 120_000;

export interface Answer {
  result: unknown;
  body: Buffer;
}

interface Pending {
  resolve: (a: Answer) => void;
  reject: (e: Error) => void;
  op: string;
}

export class SessionClient {
  readonly #ws: WebSocket;
  readonly #pending = new Map<number, Pending>();
  readonly #maxInFlight: number;
  readonly #waiters: Array<() => void> = [];
  #nextId = 1;
  #broken: ProtocolError | undefined;
  #closed: Promise<void>;

  private constructor(ws: WebSocket, maxInFlight: number, timeoutMs: number) {
    this.#ws = ws;
    keepAlive(ws, {
      timeoutMs,
      onDead: (silent) => {
        this.#fail(new ProtocolError("ERR_CONNECTION", `the server sent nothing for ${Math.floor(silent / 1000)} s, not even an answer to a ping; giving up the session`));
        ws.terminate();
      },
    });
    this.#maxInFlight = Math.max(1, maxInFlight);
    let done!: () => void;
    this.#closed = new Promise((r) => (done = r));
    ws.on("message", (data, isBinary) => this.#onMessage(data as Buffer, isBinary));
    ws.on("close", (code, reason) => {
      const why = reason.toString() || "connection closed";
      this.#fail(new ProtocolError(code === 1000 ? "ERR_SESSION_STATE" : "ERR_CONNECTION", `session closed (${code}): ${why}`));
      done();
    });
    ws.on("error", (err) => this.#fail(new ProtocolError("ERR_CONNECTION", `session transport error: ${err.message}`, { cause: err })));
  }

  static async open(ep: Endpoint, path: string, query: Record<string, string | number | undefined>, maxInFlight = 16): Promise<SessionClient> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") qs.set(k, String(v));
    const url = `wss://${hostForUrl(ep.host)}:${ep.port}${path}?${qs}`;
    const socket = await connectTrusted(ep.host, ep.port, ep.trust);
    const ws = new WebSocket(url, {
      createConnection: () => socket,
      headers: ep.authHeaders,
      maxPayload: MAX_FRAME_SIZE,
      perMessageDeflate: false,
      // Masking protects browser-era proxies from script-made payloads; this client is not a
      // browser and talks TLS end to end. An all-zero mask lets ws on both ends skip the
      // byte-by-byte XOR, which otherwise costs more CPU than TLS itself.
      generateMask: (mask: Buffer) => {
        mask.fill(0);
      },
    });
    return new Promise((resolve, reject) => {
      ws.once("open", () => {
        ws.removeAllListeners("error");
        resolve(new SessionClient(ws, maxInFlight, ep.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS));
      });
      ws.once("unexpected-response", (_req, res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          let body: unknown;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
          } catch {
            body = undefined;
          }
          reject(errorFromBody(res.statusCode ?? 500, body));
          socket.destroy();
        });
        res.on("error", (err: Error) => reject(new ProtocolError("ERR_CONNECTION", err.message, { cause: err })));
      });
      ws.once("error", (err) => reject(new ProtocolError("ERR_CONNECTION", `session open failed: ${err.message}`, { cause: err })));
    });
  }

  get broken(): ProtocolError | undefined {
    return this.#broken;
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  /** Sends one request and waits for its answer; waits first while the window is full. */
  async call(op: string, params: Record<string, unknown> = {}, body?: Uint8Array): Promise<Answer> {
    const { answer } = await this.enqueue(op, params, body);
    return answer;
  }

  /**
   * Waits for a free slot in the window, sends, and returns at once with the pending answer:
   * the caller can go on producing while the request travels (pipelining). `onSent` runs once
   * the frame has been written to the socket: from then on nothing reads `body` again, so its
   * memory may be reused (it does not run when the send fails).
   */
  async enqueue(op: string, params: Record<string, unknown> = {}, body?: Uint8Array, onSent?: () => void): Promise<{ answer: Promise<Answer> }> {
    while (this.#pending.size >= this.#maxInFlight && !this.#broken) {
      await new Promise<void>((r) => this.#waiters.push(r));
    }
    if (this.#broken) throw this.#broken;
    const id = this.#nextId++;
    const frame = encodeFrame({ id, op, params }, body);
    const answer = new Promise<Answer>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, op });
      this.#ws.send(frame, { binary: true }, (err) => {
        if (err) this.#fail(new ProtocolError("ERR_CONNECTION", `send failed: ${err.message}`, { cause: err }));
        else onSent?.();
      });
    });
    return { answer };
  }

  /** Closes the session; `code` 1000 after a clean end, CLOSE_CODES.ABORT to give up. */
  async close(code = 1000, reason = ""): Promise<void> {
    if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) {
      this.#ws.close(code, reason);
    }
    if (this.#ws.readyState !== WebSocket.CLOSED) {
      const t = setTimeout(() => this.#ws.terminate(), 5000);
      await this.#closed;
      clearTimeout(t);
    }
  }

  /** Kills the connection without a close handshake (tests: a client that vanishes). */
  terminate(): void {
    this.#ws.terminate();
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (!isBinary) {
      this.#protocolViolation("server sent a text message");
      return;
    }
    let frame: ReturnType<typeof decodeFrame>;
    try {
      frame = decodeFrame(data);
    } catch (err) {
      this.#protocolViolation((err as Error).message);
      return;
    }
    if (!isAnswerHeader(frame.header)) {
      this.#protocolViolation("server sent a malformed answer header");
      return;
    }
    const h = frame.header;
    const p = this.#pending.get(h.id);
    if (!p) {
      this.#protocolViolation(`server answered unknown request id ${h.id}`);
      return;
    }
    this.#pending.delete(h.id);
    this.#waiters.shift()?.();
    if (h.ok) p.resolve({ result: h.result, body: frame.body });
    else {
      const code = isErrorCode(h.error.code) ? h.error.code : "ERR_INTERNAL";
      p.reject(new ProtocolError(code, `${p.op}: ${h.error.message}`));
    }
  }

  #protocolViolation(msg: string): void {
    this.#fail(new ProtocolError("ERR_BAD_FRAME", msg));
    this.#ws.terminate();
  }

  #fail(err: ProtocolError): void {
    if (!this.#broken) this.#broken = err;
    for (const p of this.#pending.values()) p.reject(this.#broken);
    this.#pending.clear();
    for (const w of this.#waiters.splice(0)) w();
  }
}
