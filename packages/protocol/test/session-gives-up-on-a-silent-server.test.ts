import { createServer } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { SessionClient, resolveEndpoint } from "../src/index.js";
import { closeServer, fixtureTls, listenLoopback } from "./helpers/tls-server.js";

// Two servers that never answer a request: one still answers pings (a busy server), one answers
// nothing at all (a stopped process keeps its TCP connection open).
describe("a session gives up on a server that sends nothing, not on a busy one", () => {
  const servers: Array<ReturnType<typeof createServer>> = [];
  const wsss: WebSocketServer[] = [];
  let fp: string;
  let silentPort: number;
  let busyPort: number;
  beforeAll(async () => {
    const { cert, key, fingerprint } = fixtureTls();
    fp = fingerprint;
    const start = async (autoPong: boolean) => {
      const server = createServer({ key, cert });
      const wss = new WebSocketServer({ server, autoPong });
      servers.push(server);
      wsss.push(wss);
      return listenLoopback(server);
    };
    silentPort = await start(false);
    busyPort = await start(true);
  });
  afterAll(async () => {
    for (const w of wsss) w.close();
    for (const c of wsss.flatMap((w) => [...w.clients])) c.terminate();
    await Promise.all(servers.map((s) => closeServer(s)));
  });
  const open = (port: number, sessionTimeoutMs: number) =>
    SessionClient.open(resolveEndpoint({ host: "127.0.0.1", port, fingerprint: fp, auth: { tokenId: "a@pbs!t", secret: "s" }, sessionTimeoutMs }), "/x", {});

  it("fails the pending call and the next ones with ERR_CONNECTION after the timeout", async () => {
    const s = await open(silentPort, 600);
    const started = Date.now();
    await expect(s.call("anything")).rejects.toMatchObject({ code: "ERR_CONNECTION", message: expect.stringMatching(/the server sent nothing for \d+ s, not even an answer to a ping/) });
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    await expect(s.call("more")).rejects.toMatchObject({ code: "ERR_CONNECTION" });
  });

  it("keeps waiting on a server that answers pings, also after this process's own event loop was blocked", async () => {
    const s = await open(busyPort, 600);
    let settled = false;
    const pending = s.call("slow").then(
      () => (settled = true),
      () => (settled = true),
    );
    await new Promise((r) => setTimeout(r, 1500));
    // a long synchronous step: the pongs that came meanwhile are read only after the next timer tick
    const until = Date.now() + 1500;
    while (Date.now() < until);
    await new Promise((r) => setTimeout(r, 700));
    expect(settled).toBe(false);
    expect(s.broken).toBeUndefined();
    await s.close();
    await pending;
  });
});
