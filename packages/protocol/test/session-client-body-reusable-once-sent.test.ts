// SessionClient.enqueue's onSent: it runs once per request, after the frame has been written, and
// from then on the body's memory may be taken away (here: transferred, which detaches it) without
// changing what the server receives. Many large frames are queued at once, so the socket buffers
// them: a callback that ran before a frame was written would detach bytes still waiting to go.

import { createHash } from "node:crypto";
import { createServer } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeServer, fixtureTls, listenLoopback } from "./helpers/tls-server.js";
import { WebSocketServer } from "ws";
import { SessionClient, adoptBody, decodeFrame, encodeFrame, resolveEndpoint, BODY_HEADROOM } from "../src/index.js";

describe("session client: a body may be reused once its frame is sent", () => {
  let server: ReturnType<typeof createServer>;
  let wss: WebSocketServer;
  let port: number;
  let fp: string;
  beforeAll(async () => {
    const { cert, key, fingerprint } = fixtureTls();
    fp = fingerprint;
    server = createServer({ key, cert });
    wss = new WebSocketServer({ server, maxPayload: 64 << 20 });
    wss.on("connection", (ws) => {
      ws.on("message", (data: Buffer) => {
        const { header, body } = decodeFrame(data);
        const sha = createHash("sha256").update(body).digest("hex");
        ws.send(encodeFrame({ id: (header as { id: number }).id, ok: true, result: { sha, length: body.length } }));
      });
    });
    port = await listenLoopback(server);
  });
  afterAll(async () => {
    wss.close();
    await closeServer(server);
  });

  it("runs onSent once per frame, after the bytes left, so detaching the body then loses nothing", async () => {
    const ep = resolveEndpoint({ host: "127.0.0.1", port, fingerprint: fp, auth: { tokenId: "a@pbs!t", secret: "s" } });
    const s = await SessionClient.open(ep, "/", {}, 16);
    const size = 4 << 20;
    const expected: string[] = [];
    const sent: number[] = [];
    const answers = [];
    for (let i = 0; i < 12; i++) {
      // a body with headroom: the frame is built in the same ArrayBuffer, as for chunk uploads
      const ab = new ArrayBuffer(BODY_HEADROOM + size);
      const body = adoptBody(Buffer.from(ab, BODY_HEADROOM, size));
      body.fill(i + 1);
      body.writeUInt32LE(i, 0);
      expected.push(createHash("sha256").update(body).digest("hex"));
      const { answer } = await s.enqueue("hash", {}, body, () => {
        sent.push(i);
        structuredClone(ab, { transfer: [ab] });
        expect(ab.byteLength).toBe(0);
      });
      answers.push(answer);
    }
    const results = (await Promise.all(answers)).map((a) => a.result as { sha: string; length: number });
    expect(results.map((r) => r.length)).toEqual(expected.map(() => size));
    expect(results.map((r) => r.sha)).toEqual(expected);
    expect(sent.sort((a, b) => a - b)).toEqual(expected.map((_, i) => i));
    await s.close();
  });
});
