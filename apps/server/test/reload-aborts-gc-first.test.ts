// A reload aborts a running GC before it hands the listener over: GC holds the ProcessLocker
// exclusively, which would refuse the new process's backups. While the handover runs, new GC
// requests get 503 ERR_SHUTDOWN; if the handover fails, GC is accepted again.

import fs from "node:fs";
import path from "node:path";
import { ProtocolError } from "@cairn/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatastore } from "../src/stores.js";
import { waitFor } from "./daemon.js";
import { type TestServer, startTestServer } from "./helpers.js";

describe("reload and garbage collection", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
    // Half of the 65536 chunk folders: the sweep reads each, so GC runs long enough to be caught
    // (all of them would cost many seconds to create and remove).
    await createDatastore(t.config, "full", `${t.dir}/full`, { lazyChunkFolders: true });
    for (let i = 0; i < 32768; i++) fs.mkdirSync(path.join(t.dir, "full", ".chunks", (i * 2).toString(16).padStart(4, "0")));
  });
  afterAll(async () => {
    await t.close();
  });

  it("aborts the running GC and refuses new ones until the handover ends", async () => {
    const api = t.client(t.admin);
    const upid = await api.startGc("full");
    await waitFor("GC to be sweeping", async () => ((await api.taskStatus(upid)).progress ?? 0) >= 0.5 || undefined, 30_000, 10);
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
