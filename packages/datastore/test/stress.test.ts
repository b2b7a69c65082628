// Stress (bounded, ~30 s): 3 writer processes with overlapping data, one process running GC in a
// loop with a zero safety window, one doing prune/forget/verify, and one writer killed with
// SIGKILL mid-backup. Afterwards every finished snapshot verifies with nothing missing or corrupt,
// and no temp file is left once the store is reopened with cleanup.
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DataStore } from "../src/index.js";
import { Child, tmpStore } from "./helpers/util.js";

const DURATION_MS = 22_000;
let cleanup: (() => Promise<void>) | undefined;
afterAll(async () => {
  await cleanup?.();
});

function walk(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

describe("stress", () => {
  it("concurrent writers, GC, prune, forget, verify and a killed writer lose no chunk", { timeout: 90_000 }, async () => {
    const t = await tmpStore();
    cleanup = t.cleanup;
    const root = t.store.root;
    const base = { root, durationMs: DURATION_MS, poolSize: 150 };
    const writers = ["w1", "w2", "w3"].map((id) => new Child("stress-worker.mjs", { ...base, role: "writer", id }));
    const gc = new Child("stress-worker.mjs", { ...base, role: "gc" });
    const maint = new Child("stress-worker.mjs", { ...base, role: "maint", groups: ["w1", "w2", "w3", "k1"] });
    const victim = new Child("stress-worker.mjs", { ...base, role: "kill", id: "k1", durationMs: 60_000 });
    // let the victim write a few chunks, then kill it in the middle of its first backup
    for (let i = 0; i < 5; i++) expect(await victim.next()).toMatchObject({ inserting: true });
    victim.kill();
    expect(await victim.exited).toBeNull();

    const summaries: Record<string, unknown>[] = [];
    for (const c of [...writers, gc, maint]) {
      let msg = await c.next(DURATION_MS + 30_000);
      while (msg.inserting) msg = await c.next(DURATION_MS + 30_000);
      expect(msg, JSON.stringify(msg)).toMatchObject({ done: true });
      summaries.push(msg.summary as Record<string, unknown>);
      await c.exited;
    }
    const [w1, w2, w3, g, m] = summaries as Record<string, number & unknown[]>[];
    console.log("stress summaries", JSON.stringify(summaries));
    expect(w1.backups + w2.backups + w3.backups).toBeGreaterThan(20);
    expect(g.runs).toBeGreaterThan(0);
    expect(g.warnings).toBe(0);
    expect(m.verifyFailures).toEqual([]);

    // the killed writer left an unfinished snapshot (and maybe temp chunks) behind
    const store = await DataStore.open(root, { cleanup: { graceSeconds: 0 } });
    expect(store.listSnapshots({ type: "host", id: "k1" })).toEqual([]);
    const leftovers = walk(root).filter((p) => p.includes(".tmp_") || p.endsWith(".tmp"));
    expect(leftovers).toEqual([]);

    const finished = store.allSnapshotRefs();
    expect(finished.length).toBeGreaterThan(5);
    const r = await store.verify();
    expect(r.missingChunks).toEqual([]);
    expect(r.corruptChunks).toEqual([]);
    expect(r.snapshots.every((s) => s.outcome === "ok")).toBe(true);
    // a last GC with zero safety keeps everything the snapshots reference
    const st = await store.garbageCollection({ atimeSafetySeconds: 0, graceSeconds: 0 });
    expect(st.warnings).toEqual([]);
    expect((await store.verify()).ok).toBe(true);
  });
});
