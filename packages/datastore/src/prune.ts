// Prune: which snapshots of a group to keep (a pure function) and removing the others.
// Spec: datastore.md "Prune" and the locking-table row "prune" (running and base snapshots are
// locked, so prune warns and continues; a vanished snapshot is a warning too).
// Periods use the local time zone (process TZ), as PBS does.

import type { DataStore, SnapshotInfo } from "./datastore.js";
import { isDatastoreError } from "./errors.js";
import { type GroupRef, snapshotToString, validateGroup } from "./names.js";

export interface PruneOptions {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
}

export type PruneReason =
  | "keep-last"
  | "keep-hourly"
  | "keep-daily"
  | "keep-weekly"
  | "keep-monthly"
  | "keep-yearly"
  | "keep-all"
  | "protected"
  | "unfinished-newest"
  | "remove";

/** What computePrune needs to know of a snapshot. */
export interface PruneCandidate {
  /** Backup time, epoch seconds. */
  time: number;
  finished: boolean;
  protected: boolean;
}

export interface PruneDecision<T extends PruneCandidate = PruneCandidate> {
  snapshot: T;
  keep: boolean;
  reason: PruneReason;
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** ISO 8601 week-year and week of a calendar date. */
export function isoWeek(year: number, month0: number, day: number): { year: number; week: number } {
  const d = new Date(Date.UTC(year, month0, day));
  const dow = (d.getUTCDay() + 6) % 7; // Monday = 0
  d.setUTCDate(d.getUTCDate() - dow + 3); // the Thursday of this week decides the year
  const weekYear = d.getUTCFullYear();
  const jan4 = new Date(Date.UTC(weekYear, 0, 4));
  const jan4Thursday = jan4.getTime() - ((jan4.getUTCDay() + 6) % 7) * 86400000 + 3 * 86400000;
  return { year: weekYear, week: 1 + Math.round((d.getTime() - jan4Thursday) / (7 * 86400000)) };
}

type Rule = { option: keyof PruneOptions; reason: PruneReason; period: (t: Date) => string };

const RULES: Rule[] = [
  { option: "keepLast", reason: "keep-last", period: (t) => String(t.getTime()) },
  {
    option: "keepHourly",
    reason: "keep-hourly",
    period: (t) => `${t.getFullYear()}/${pad(t.getMonth() + 1)}/${pad(t.getDate())}/${pad(t.getHours())}`,
  },
  { option: "keepDaily", reason: "keep-daily", period: (t) => `${t.getFullYear()}/${pad(t.getMonth() + 1)}/${pad(t.getDate())}` },
  {
    option: "keepWeekly",
    reason: "keep-weekly",
    period: (t) => {
      const w = isoWeek(t.getFullYear(), t.getMonth(), t.getDate());
      return `${w.year}/${pad(w.week)}`;
    },
  },
  { option: "keepMonthly", reason: "keep-monthly", period: (t) => `${t.getFullYear()}/${pad(t.getMonth() + 1)}` },
  { option: "keepYearly", reason: "keep-yearly", period: (t) => String(t.getFullYear()) },
];

/**
 * Decide keep/remove for the snapshots of one group. Returns them newest first, each with the
 * rule that kept it (or "remove"). No keep option (or all 0) keeps everything.
 */
export function computePrune<T extends PruneCandidate>(snapshots: readonly T[], options: PruneOptions): PruneDecision<T>[] {
  const list = [...snapshots].sort((a, b) => b.time - a.time);
  const mark = new Map<T, PruneReason>();
  const keepsSomething = RULES.some((r) => (options[r.option] ?? 0) > 0);
  if (!keepsSomething) return list.map((s) => ({ snapshot: s, keep: true, reason: s.protected ? "protected" : "keep-all" }));

  // Unfinished snapshots: only the newest, and only if nothing finished is newer, is kept.
  let keepUnfinished = true;
  for (const s of list) {
    if (s.finished) keepUnfinished = false;
    else {
      mark.set(s, keepUnfinished ? "unfinished-newest" : "remove");
      keepUnfinished = false;
    }
  }

  for (const rule of RULES) {
    const keep = options[rule.option];
    if (keep === undefined || keep <= 0) continue;
    const alreadyIncluded = new Set<string>();
    for (const s of list) {
      const m = mark.get(s);
      if (m?.startsWith("keep-")) alreadyIncluded.add(rule.period(new Date(s.time * 1000)));
    }
    const included = new Set<string>();
    for (const s of list) {
      if (mark.has(s)) continue;
      if (s.protected) {
        mark.set(s, "protected");
        continue;
      }
      const period = rule.period(new Date(s.time * 1000));
      if (alreadyIncluded.has(period)) continue;
      if (!included.has(period)) {
        if (included.size >= keep) break;
        included.add(period);
        mark.set(s, rule.reason);
      } else {
        mark.set(s, "remove");
      }
    }
  }

  return list.map((s) => {
    const reason: PruneReason = s.protected ? "protected" : (mark.get(s) ?? "remove");
    return { snapshot: s, keep: reason !== "remove", reason };
  });
}

export interface PruneResult {
  decisions: PruneDecision<SnapshotInfo>[];
  /** Snapshots actually removed (none in a dry run). */
  removed: SnapshotInfo[];
  /** Snapshots that could not be removed (locked, vanished, protected meanwhile), one line each. */
  warnings: string[];
  /** The same snapshots with the reason, for a caller reporting them per snapshot. */
  notRemoved: Array<{ snapshot: SnapshotInfo; error: string }>;
}

export async function pruneGroup(
  store: DataStore,
  group: GroupRef,
  options: PruneOptions,
  opts: { dryRun?: boolean } = {},
): Promise<PruneResult> {
  const g = validateGroup(group);
  const decisions = computePrune(store.listSnapshots(g), options);
  const result: PruneResult = { decisions, removed: [], warnings: [], notRemoved: [] };
  if (opts.dryRun) return result;
  for (const d of decisions) {
    if (d.keep) continue;
    try {
      await store.forgetSnapshot(d.snapshot, { operation: "prune" });
      result.removed.push(d.snapshot);
    } catch (err) {
      if (isDatastoreError(err) && ["ERR_LOCKED", "ERR_NOT_FOUND", "ERR_PROTECTED"].includes(err.code)) {
        result.warnings.push(`cannot remove snapshot ${snapshotToString(d.snapshot)}: ${err.message}`);
        result.notRemoved.push({ snapshot: d.snapshot, error: `${err.code}: ${err.message}` });
        continue;
      }
      throw err;
    }
  }
  return result;
}
