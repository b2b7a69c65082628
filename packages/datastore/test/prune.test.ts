// Prune vectors. Expected sets are worked out by hand in the comments, never by calling the
// implementation. Periods use the local zone: UTC here (vitest env), one test uses Europe/Berlin.
process.env.TZ = "UTC";

import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type PruneCandidate, computePrune, isoWeek } from "../src/index.js";
import { backup, chunks, tmpStore } from "./helpers/util.js";

const at = (iso: string) => Date.parse(iso) / 1000;
const iso = (t: number) => new Date(t * 1000).toISOString().replace(".000Z", "Z");
const snap = (time: string, extra: Partial<PruneCandidate> = {}) => ({ time: at(time), finished: true, protected: false, ...extra });

function kept(list: PruneCandidate[], opts: Parameters<typeof computePrune>[1]) {
  return computePrune(list, opts)
    .filter((d) => d.keep)
    .map((d) => `${iso(d.snapshot.time)} ${d.reason}`);
}

describe("computePrune", () => {
  it("hourly snapshots over 40 days, keep-daily 7, keep-weekly 4, keep-monthly 2", () => {
    // 2026-01-01T00:00Z … 2026-02-09T23:00Z, one per hour (960 snapshots).
    const list: PruneCandidate[] = [];
    for (let h = 0; h < 40 * 24; h++) list.push({ time: at("2026-01-01T00:00:00Z") + h * 3600, finished: true, protected: false });
    expect(list).toHaveLength(960);
    // keep-daily 7: the newest snapshot (23:00) of Feb 9, 8, 7, 6, 5, 4, 3.
    // keep-weekly 4: weeks already covered by daily keeps: 2026-W07 (Mon Feb 9) and W06 (Feb 2–8).
    //   Walking down: Feb 2 is W06 (covered), then Feb 1 23:00 opens W05, Jan 25 W04, Jan 18 W03,
    //   Jan 11 W02 — four weeks; Jan 4 (W01) would be a fifth.
    // keep-monthly 2: months already covered by kept snapshots: 2026-02 and 2026-01; the
    //   unmarked rest (Feb 2, Jan 1–4) lies in those months, so nothing more is kept.
    const expected = [
      ...["09", "08", "07", "06", "05", "04", "03"].map((d) => `2026-02-${d}T23:00:00Z keep-daily`),
      "2026-02-01T23:00:00Z keep-weekly",
      "2026-01-25T23:00:00Z keep-weekly",
      "2026-01-18T23:00:00Z keep-weekly",
      "2026-01-11T23:00:00Z keep-weekly",
    ];
    expect(kept(list, { keepDaily: 7, keepWeekly: 4, keepMonthly: 2 })).toEqual(expected);
    const decisions = computePrune(list, { keepDaily: 7, keepWeekly: 4, keepMonthly: 2 });
    expect(decisions.filter((d) => !d.keep)).toHaveLength(960 - 11);
    expect(decisions[0].snapshot.time).toBe(at("2026-02-09T23:00:00Z")); // newest first
  });

  it("keep-last then keep-daily: periods covered by a kept snapshot do not count again", () => {
    const list = [
      snap("2026-03-01T10:00:00Z"),
      snap("2026-03-01T12:00:00Z"),
      snap("2026-03-02T08:00:00Z"),
      snap("2026-03-02T09:00:00Z"),
      snap("2026-03-03T07:00:00Z"),
    ];
    // keep-last 2: Mar 3 07:00, Mar 2 09:00. keep-daily 2: Mar 3 and Mar 2 are covered; Mar 2
    // 08:00 is skipped (covered); Mar 1 12:00 opens a new day and is kept; Mar 1 10:00 goes.
    expect(kept(list, { keepLast: 2, keepDaily: 2 })).toEqual([
      "2026-03-03T07:00:00Z keep-last",
      "2026-03-02T09:00:00Z keep-last",
      "2026-03-01T12:00:00Z keep-daily",
    ]);
  });

  it("protected snapshots are always kept and do not count", () => {
    const list = [snap("2026-05-03T00:00:00Z"), snap("2026-05-02T00:00:00Z", { protected: true }), snap("2026-05-01T00:00:00Z")];
    expect(kept(list, { keepLast: 1 })).toEqual(["2026-05-03T00:00:00Z keep-last", "2026-05-02T00:00:00Z protected"]);
    expect(kept(list, { keepLast: 2 })).toEqual([
      "2026-05-03T00:00:00Z keep-last",
      "2026-05-02T00:00:00Z protected",
      "2026-05-01T00:00:00Z keep-last",
    ]);
  });

  it("unfinished: only the newest is kept, and only if it is the newest snapshot overall", () => {
    const u = (t: string) => snap(t, { finished: false });
    const list = [u("2026-06-04T00:00:00Z"), snap("2026-06-03T00:00:00Z"), u("2026-06-02T00:00:00Z"), snap("2026-06-01T00:00:00Z")];
    const d = computePrune(list, { keepLast: 1 }).map((x) => [iso(x.snapshot.time).slice(0, 10), x.keep, x.reason]);
    expect(d).toEqual([
      ["2026-06-04", true, "unfinished-newest"],
      ["2026-06-03", true, "keep-last"],
      ["2026-06-02", false, "remove"],
      ["2026-06-01", false, "remove"],
    ]);
    // an unfinished one below a finished one is removed even with generous options
    expect(kept([snap("2026-06-05T00:00:00Z"), u("2026-06-04T00:00:00Z")], { keepLast: 5 })).toEqual([
      "2026-06-05T00:00:00Z keep-last",
    ]);
  });

  it("no keep option keeps everything", () => {
    const list = [snap("2026-01-01T00:00:00Z"), snap("2026-01-02T00:00:00Z")];
    expect(computePrune(list, {}).every((d) => d.keep && d.reason === "keep-all")).toBe(true);
    expect(computePrune(list, { keepLast: 0 }).every((d) => d.keep)).toBe(true);
  });

  it("ISO weeks and years across the year boundary", () => {
    // 2020-12-31 Thu and 2021-01-01 Fri are both in 2020-W53; 2021-01-04 Mon starts 2021-W01.
    expect(isoWeek(2020, 11, 31)).toEqual({ year: 2020, week: 53 });
    expect(isoWeek(2021, 0, 1)).toEqual({ year: 2020, week: 53 });
    expect(isoWeek(2021, 0, 4)).toEqual({ year: 2021, week: 1 });
    expect(isoWeek(2024, 11, 30)).toEqual({ year: 2025, week: 1 });
    expect(isoWeek(2026, 1, 9)).toEqual({ year: 2026, week: 7 });
    const list = [snap("2020-12-31T12:00:00Z"), snap("2021-01-01T12:00:00Z"), snap("2021-01-04T12:00:00Z")];
    expect(kept(list, { keepWeekly: 2 })).toEqual(["2021-01-04T12:00:00Z keep-weekly", "2021-01-01T12:00:00Z keep-weekly"]);
    expect(kept(list, { keepYearly: 2 })).toEqual(["2021-01-04T12:00:00Z keep-yearly", "2020-12-31T12:00:00Z keep-yearly"]);
    expect(kept(list, { keepMonthly: 1, keepYearly: 2 })).toEqual([
      "2021-01-04T12:00:00Z keep-monthly",
      "2020-12-31T12:00:00Z keep-yearly",
    ]);
  });

  it("hourly: the newest snapshot of each hour", () => {
    const list = [snap("2026-07-01T10:05:00Z"), snap("2026-07-01T10:50:00Z"), snap("2026-07-01T11:10:00Z"), snap("2026-07-01T09:59:59Z")];
    expect(kept(list, { keepHourly: 2 })).toEqual(["2026-07-01T11:10:00Z keep-hourly", "2026-07-01T10:50:00Z keep-hourly"]);
  });

  it("the local time zone decides the periods (Europe/Berlin)", () => {
    // 22:30Z and 23:30Z on Jan 10 are one UTC day, but 23:30 Jan 10 and 00:30 Jan 11 in Berlin.
    const list = [snap("2026-01-10T23:30:00Z"), snap("2026-01-10T22:30:00Z")];
    expect(kept(list, { keepDaily: 5 })).toEqual(["2026-01-10T23:30:00Z keep-daily"]);
    // Sunday 2026-01-11T23:30Z is Monday 00:30 in Berlin: a new ISO week there
    const weekly = [snap("2026-01-11T23:30:00Z"), snap("2026-01-11T12:00:00Z")];
    expect(kept(weekly, { keepWeekly: 5 })).toEqual(["2026-01-11T23:30:00Z keep-weekly"]);
    process.env.TZ = "Europe/Berlin";
    try {
      expect(new Date(at("2026-01-10T23:30:00Z") * 1000).getDate()).toBe(11);
      expect(kept(list, { keepDaily: 5 })).toEqual(["2026-01-10T23:30:00Z keep-daily", "2026-01-10T22:30:00Z keep-daily"]);
      expect(kept(weekly, { keepWeekly: 5 })).toEqual(["2026-01-11T23:30:00Z keep-weekly", "2026-01-11T12:00:00Z keep-weekly"]);
    } finally {
      process.env.TZ = "UTC";
    }
  });
});

describe("store.prune", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it("removes what computePrune marks, keeps protected ones, dry run changes nothing", async () => {
    const { store, cleanup } = await tmpStore();
    cleanups.push(cleanup);
    const G = { type: "vm" as const, id: "100" };
    const times = ["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z"].map(at);
    for (const t of times) await backup(store, { ...G, time: t }, chunks(1, 64));
    await store.setProtected({ ...G, time: times[0] }, true);
    const dry = await store.prune(G, { keepLast: 2 }, { dryRun: true });
    expect(dry.decisions.map((d) => d.reason)).toEqual(["keep-last", "keep-last", "remove", "protected"]);
    expect(store.listSnapshots(G)).toHaveLength(4);
    const r = await store.prune(G, { keepLast: 2 });
    expect(r.removed.map((s) => s.time)).toEqual([times[1]]);
    expect(r.warnings).toEqual([]);
    expect(store.listSnapshots(G).map((s) => s.time)).toEqual([times[0], times[2], times[3]]);
  });

  it("a snapshot with a damaged manifest counts as finished (as in PBS): keep rules keep it", async () => {
    const { store, cleanup } = await tmpStore();
    cleanups.push(cleanup);
    const G = { type: "host" as const, id: "damaged" };
    const times = ["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"].map(at);
    for (const t of times) await backup(store, { ...G, time: t }, chunks(1, 64));
    const manifest = path.join(store.layout.snapshotPath({ ...G, time: times[0] }), "index.json.blob");
    const raw = fs.readFileSync(manifest);
    raw[30] ^= 0xff;
    fs.writeFileSync(manifest, raw);
    expect(store.listSnapshots(G).map((s) => s.finished)).toEqual([true, true]);
    const r = await store.prune(G, { keepLast: 5 });
    expect(r.removed).toEqual([]);
    expect(store.listSnapshots(G)).toHaveLength(2);
  });
});
