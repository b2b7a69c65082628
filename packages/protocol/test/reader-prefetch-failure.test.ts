// Regression (found by the server's corrupt-chunk test): when several prefetched chunks of
// readArchive fail, the first failure must reject the iteration and the others must not surface
// as unhandled rejections (which end a Node process).

import { createServer } from "node:https";
import { encodeDynamicIndex } from "@cairn/format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeServer, fixtureTls, listenLoopback } from "./helpers/tls-server.js";
import { WebSocketServer } from "ws";
import { BackupReader, decodeFrame, encodeFrame } from "../src/index.js";

describe("BackupReader.readArchive with failing chunks", () => {
  let server: ReturnType<typeof createServer>;
  let wss: WebSocketServer;
  let port: number;
  let fp: string;
  const digests = Array.from({ length: 6 }, (_, i) => Buffer.alloc(32, i + 1));
  beforeAll(async () => {
    const { cert, key, fingerprint } = fixtureTls();
    fp = fingerprint;
    server = createServer({ key, cert });
    wss = new WebSocketServer({ server });
    const index = encodeDynamicIndex({ entries: digests.map((digest, i) => ({ end: (i + 1) * 100, digest })) });
    wss.on("connection", (ws) => {
      const held: number[] = [];
      ws.on("message", (data: Buffer) => {
        const h = decodeFrame(data).header as { id: number; op: string; params: { digest?: string } };
        if (h.op === "download") {
          ws.send(encodeFrame({ id: h.id, ok: true, result: { size: index.length } }, index));
          return;
        }
        // Every chunk is missing; answer the later ones first so they fail while the first is awaited.
        held.push(h.id);
        if (held.length === digests.length) {
          for (const id of held.reverse()) ws.send(encodeFrame({ id, ok: false, error: { code: "ERR_NOT_FOUND", message: `chunk ${id} is missing` } }));
        }
      });
    });
    port = await listenLoopback(server);
  });
  afterAll(async () => {
    wss.close();
    await closeServer(server);
  });

  it("rejects with the first chunk's error and leaves no unhandled rejection", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on("unhandledRejection", onUnhandled);
    try {
      const r = await BackupReader.open({ host: "127.0.0.1", port, fingerprint: fp, auth: { tokenId: "a@pbs!t", secret: "s" }, store: "s", backupType: "host", backupId: "x", backupTime: 1 });
      const read = async () => {
        for await (const _ of r.readArchive("data.didx")) {
          // no chunk arrives
        }
      };
      await expect(read()).rejects.toMatchObject({ code: "ERR_NOT_FOUND" });
      await new Promise((res) => setTimeout(res, 100));
      expect(unhandled).toEqual([]);
      await r.close();
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });
});
