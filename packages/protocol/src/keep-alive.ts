// keep-alive.ts — liveness of a session WebSocket, for both ends (an addition to spec protocol.md).
// A peer that stops (SIGSTOP, a hung host, a cable pulled without a reset) keeps its TCP
// connection open, and a session waiting on it would wait forever: a backup holding its group's
// lock, a restore that never ends. Each end pings every `intervalMs`; any frame or pong counts as
// life, and `timeoutMs` of silence ends the session through `onDead`.

import WebSocket from "ws";

export interface KeepAliveOptions {
  timeoutMs: number;
  /** Default: a quarter of the timeout, at most 15 s. */
  intervalMs?: number;
  /** True while this end itself holds back reading (backpressure): silence is then ours. */
  paused?: () => boolean;
  onDead: (silentMs: number) => void;
}

/** Starts the pings; stops by itself when the socket closes, or by the returned call. */
export function keepAlive(ws: WebSocket, opts: KeepAliveOptions): () => void {
  const interval = opts.intervalMs ?? Math.min(15_000, Math.max(50, Math.floor(opts.timeoutMs / 4)));
  let lastHeard = Date.now();
  let lastTick = Date.now();
  const heard = () => {
    lastHeard = Date.now();
  };
  ws.on("pong", heard);
  ws.on("ping", heard);
  ws.on("message", heard);
  const timer = setInterval(() => {
    const now = Date.now();
    // A tick far later than planned means this process's event loop was blocked (a busy CPU, a
    // long synchronous step): the peer's answers are still queued unread, so it is not blamed.
    const late = now - lastTick > 2 * interval;
    lastTick = now;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (late || opts.paused?.()) lastHeard = now;
    const silent = now - lastHeard;
    if (silent >= opts.timeoutMs) {
      stop();
      opts.onDead(silent);
      return;
    }
    ws.ping();
  }, interval);
  timer.unref();
  const stop = () => {
    clearInterval(timer);
    ws.off("pong", heard);
    ws.off("ping", heard);
    ws.off("message", heard);
  };
  ws.once("close", stop);
  return stop;
}
