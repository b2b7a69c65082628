// Explicit garbage collection for threads that churn through large buffers. Chunk buffers are
// external memory that V8 frees only when it collects, and its heuristics let dead 4 MiB buffers
// pile up to hundreds of MB; a collection every few dozen MiB of work keeps the resident size
// flat and costs about a millisecond, since the JS heap itself stays small.

import v8 from "node:v8";
import vm from "node:vm";

v8.setFlagsFromString("--expose-gc");
const collect = vm.runInNewContext("gc") as () => void;

export class GcPacer {
  #since = 0;

  constructor(readonly every = 64 << 20) {}

  /** Counts `bytes` of buffer churn and collects when enough has passed. */
  add(bytes: number): void {
    this.#since += bytes;
    if (this.#since >= this.every) {
      this.#since = 0;
      collect();
    }
  }
}
