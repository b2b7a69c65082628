// A reload aborts a running GC before it hands the listener over: GC holds the ProcessLocker
// exclusively, which would refuse the new process's backups. While the handover runs, new GC
// requests get 503 ERR_SHUTDOWN; if the handover fails, GC is accepted again.

import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { encodeDynamicIndex } from "@cairn/format";
import { ProtocolError } from "@cairn/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatastore } from "../src/stores.js";
import { waitFor } from "./daemon.js";
import { type TestServer, startTestServer } from "./helpers.js";

describe("reload and garbage collection", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
    // GC marks 1500 index files naming 30 missing chunks each (11 lookups per chunk): long
    // enough to be caught mid-run, cheap to create.
    await createDatastore(t.config, "full", `${t.dir}/full`, { lazyChunkFolders: true });
    const snap = path.join(t.dir, "full", "host", "big", "2023-11-14T22:13:20Z");
    fs.mkdirSync(snap, { recursive: true });
    for (let f = 0; f < 1500; f++) {
      const entries = Array.from({ length: 30 }, (_, i) => ({ end: (i + 1) * 4096, digest: randomBytes(32) }));
      fs.writeFileSync(path.join(snap, `a${f}.didx`), encodeDynamicIndex({ entries }));
    }
  });
  afterAll(async () => {
    await t.close();
  });

  it("aborts the running GC and refuses new ones until the handover ends", async () => {
    const api = t.client(t.admin);
    const upid = await api.startGc("full");
    await waitFor("GC to be marking", async () => ((await api.taskStatus(upid)).progress ?? 0) > 0 || undefined, 30_000, 10);
    await t.srv.prepareHandover();
    const st = await api.taskStatus(upid);
    expect(st.state).toBe("aborted");
    const refused = await api.startGc("full").then(
      () => undefined,
      (e: ProtocolError) => e,
    );
    expect(refused).toBeInstanceOf(ProtocolError);
    expect(refused?.code).toBe("ERR_SHUTDOWN");
    t.srv.cancelHandover();
    const again = await api.startGc("full");
    expect((await api.waitTask(again, 50, 120_000)).exitstatus).toBe("OK");
  });
});
