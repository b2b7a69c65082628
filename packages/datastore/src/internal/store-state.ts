// Per-process state of one datastore root, shared by every DataStore object opened on it in this
// process: the gc mutex (one GC at a time) and the `removed_during_gc` hand-over list.
// Spec: datastore.md "Locks" (gc mutex) and the locking-table rule "Forget/prune during GC mark".

import path from "node:path";
import { Mutex } from "./mutex.js";

export type GcPhase = "idle" | "mark" | "sweep";

export class StoreProcessState {
  private static readonly states = new Map<string, StoreProcessState>();

  static forRoot(root: string): StoreProcessState {
    const key = path.resolve(root);
    let s = StoreProcessState.states.get(key);
    if (!s) {
      s = new StoreProcessState();
      StoreProcessState.states.set(key, s);
    }
    return s;
  }

  gcRunning = false;
  gcPhase: GcPhase = "idle";
  /** Digests of indexes removed while GC marks; GC touches them before it sweeps. */
  removedDuringGc: string[] = [];
  readonly removedDuringGcMutex = new Mutex();
}
