// Synchronous metadata calls while they are fast, asynchronous ones when they are not.
//
// A synchronous lstat/readdir/readlink of something in the kernel's cache takes microseconds,
// while every asynchronous call is a round trip through libuv's thread pool (tens of
// microseconds, more on a busy machine). For walking a cached tree the synchronous calls are
// several times faster. But a synchronous call blocks the event loop, which is bad when the
// filesystem is slow (cold cache, network filesystem). So every synchronous call is timed; once
// `streak` calls in a row took longer than `slowMs` each (one slow call alone is usually the
// scheduler preempting a busy machine), callers use the asynchronous (concurrent) path for
// `backoffMs` and then try again.

export class AdaptiveIo {
  private slowUntil = 0;
  private slowCalls = 0;
  /** How often the asynchronous path was chosen (diagnostics, tests). */
  backoffs = 0;

  constructor(
    private readonly slowMs = 2,
    private readonly streak = 3,
    private readonly backoffMs = 1000,
  ) {}

  /** True when a synchronous call is expected to be fast. */
  get syncOk(): boolean {
    return this.slowUntil === 0 || performance.now() >= this.slowUntil;
  }

  /** Runs `fn` synchronously and times it. */
  run<T>(fn: () => T): T {
    const t0 = performance.now();
    try {
      return fn();
    } finally {
      const t1 = performance.now();
      if (t1 - t0 <= this.slowMs) {
        this.slowCalls = 0;
        this.slowUntil = 0;
      } else if (++this.slowCalls >= this.streak) {
        this.slowCalls = 0;
        this.slowUntil = t1 + this.backoffMs;
        this.backoffs++;
      }
    }
  }
}
