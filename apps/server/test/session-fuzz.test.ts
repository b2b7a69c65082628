import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { CLOSE_CODES, decodeFrame, encodeFrame } from "@cairn/protocol";
import { BackupWriter } from "@cairn/protocol";
import { type TestServer, makeChunk, rawSession, startTestServer } from "./helpers.js";

/** Sends one message and resolves with the first answer frame or the close code. */
function exchange(ws: WebSocket, msg: Buffer | string): Promise<{ answer?: { ok: boolean; error?: { code: string } }; close?: number }> {
  return new Promise((resolve) => {
    const onMessage = (data: Buffer) => {
      cleanup();
      resolve({ answer: decodeFrame(data).header as { ok: boolean } });
    };
    const onClose = (code: number) => {
      cleanup();
      resolve({ close: code });
    };
    const cleanup = () => {
      ws.off("message", onMessage);
      ws.off("close", onClose);
    };
    ws.on("message", onMessage);
    ws.on("close", onClose);
    ws.send(msg, { binary: typeof msg !== "string" });
  });
}

describe("malformed session input", () => {
  let t: TestServer;
  let ws: WebSocket;
  let n = 0;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    ws?.terminate();
    await t.close();
  });

  async function session(): Promise<WebSocket> {
    if (!ws || ws.readyState !== ws.OPEN) {
      ws = await rawSession(t, "backup", { store: "store1", "backup-type": "host", "backup-id": `fuzz-${n++}`, "backup-time": 1_700_000_000 });
    }
    return ws;
  }

  it("answers or closes with 4400 on random bytes, and keeps serving", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 64 }), async (bytes) => {
        const s = await session();
        const r = await exchange(s, Buffer.from(bytes));
        if (r.close !== undefined) expect(r.close).toBe(CLOSE_CODES.BAD_FRAME);
        else expect(r.answer?.ok).toBe(false);
      }),
      { numRuns: 400 },
    );
  });

  it("answers an error for well-framed nonsense requests and keeps the session", async () => {
    const op = fc.oneof(
      fc.constantFrom("dynamic_chunk", "fixed_chunk", "dynamic_append", "fixed_append", "dynamic_close", "fixed_close", "blob", "previous", "dynamic_index", "fixed_index", "finish"),
      fc.string({ maxLength: 20 }),
    );
    const params = fc.dictionary(
      fc.constantFrom("wid", "digest", "size", "encoded-size", "archive-name", "file-name", "digest-list", "offset-list", "csum", "chunk-count", "x"),
      fc.oneof(fc.integer(), fc.string({ maxLength: 70 }), fc.array(fc.string({ maxLength: 64 }), { maxLength: 3 }), fc.constant(null), fc.double()),
    );
    await fc.assert(
      fc.asyncProperty(fc.nat(1_000_000), op, params, fc.uint8Array({ maxLength: 32 }), async (id, o, p, body) => {
        const s = await session();
        const r = await exchange(s, encodeFrame({ id, op: o, params: p }, body));
        if (r.answer) {
          // nothing valid can reach a successful chunk/append/close without a writer
          if (o !== "dynamic_index" && o !== "fixed_index") expect(r.answer.ok).toBe(false);
        } else {
          expect(r.close).toBe(CLOSE_CODES.BAD_FRAME);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("closes on malformed headers and text messages", async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (header) => {
        const s = await session();
        const r = await exchange(s, encodeFrame(header as object));
        if (r.answer) expect(r.answer.ok).toBe(false);
        else expect(r.close).toBe(CLOSE_CODES.BAD_FRAME);
      }),
      { numRuns: 150 },
    );
    const s = await session();
    expect((await exchange(s, "hello")).close).toBe(CLOSE_CODES.BAD_FRAME);
  });

  it("still serves a real backup after all that, and left no snapshots behind", async () => {
    ws?.terminate();
    const c = makeChunk(1000);
    const w = await BackupWriter.start({ ...t.conn, store: "store1", auth: t.admin, backupType: "host", backupId: "after-fuzz", backupTime: 1_800_000_000 });
    const h = await w.createDynamicIndex("a.didx");
    await h.addChunk(c.digest, 1000, c.blob);
    await h.close();
    await w.finish();
    const api = t.client(t.admin);
    await new Promise((r) => setTimeout(r, 500));
    const snaps = (await api.listSnapshots("store1")).filter((s) => s["backup-id"].startsWith("fuzz-"));
    expect(snaps).toEqual([]);
    expect(n).toBeGreaterThan(1);
  });
});
