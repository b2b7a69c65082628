import { createServer } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeServer, fixtureTls, listenLoopback } from "./helpers/tls-server.js";
import { WebSocketServer } from "ws";
import { SessionClient, decodeFrame, encodeFrame, resolveEndpoint } from "../src/index.js";

describe("session client: out-of-order answers and a bounded window", () => {
  let server: ReturnType<typeof createServer>;
  let wss: WebSocketServer;
  let port: number;
  let fp: string;
  let maxSeen = 0;
  beforeAll(async () => {
    const { cert, key, fingerprint } = fixtureTls();
    fp = fingerprint;
    server = createServer({ key, cert });
    wss = new WebSocketServer({ server });
    wss.on("connection", (ws) => {
      const held: Array<{ id: number; body: Buffer }> = [];
      ws.on("message", (data: Buffer) => {
        const { header, body } = decodeFrame(data);
        const h = header as { id: number; op: string };
        held.push({ id: h.id, body });
        maxSeen = Math.max(maxSeen, held.length);
        // answer in reverse order once 4 requests are waiting
        if (held.length === 4) {
          for (const r of held.reverse()) ws.send(encodeFrame({ id: r.id, ok: true, result: { n: r.id } }, r.body));
          held.length = 0;
        }
      });
    });
    port = await listenLoopback(server);
  });
  afterAll(async () => {
    wss.close();
    await closeServer(server);
  });

  it("matches answers by id and never has more than maxInFlight requests outstanding", async () => {
    const ep = resolveEndpoint({ host: "127.0.0.1", port, fingerprint: fp, auth: { tokenId: "a@pbs!t", secret: "s" } });
    const s = await SessionClient.open(ep, "/", {}, 4);
    const answers = await Promise.all(Array.from({ length: 16 }, (_, i) => s.call("echo", {}, Buffer.from([i]))));
    answers.forEach((a, i) => {
      expect(a.body[0]).toBe(i);
      expect((a.result as { n: number }).n).toBe(i + 1);
    });
    expect(maxSeen).toBe(4);
    await s.close();
  });
});
