// Ctrl-C and SIGTERM. Without a handler Node exits at once and says nothing; a user then cannot
// tell what the stopped command left behind. With one, the command in progress runs its cleanup
// (a backup aborts its session, so the server removes the unfinished snapshot at once; an image
// restore removes the file it was writing), then cairn prints one line
// `cairn: error: ERR_INTERRUPTED: …` saying what is left and exits 128 + the signal number (130,
// 143), as a shell reports a process killed by it. A second signal exits at once.

import os from "node:os";

interface Job {
  /** What the user is left with, e.g. "no snapshot was made"; a function is asked after the cleanup. */
  what: string | (() => string);
  cleanup?: () => Promise<void> | void;
}

/** Cleanups longer than this are given up on: the user asked to stop. */
const CLEANUP_TIMEOUT_MS = 5000;

const jobs: Job[] = [];
let interrupted: NodeJS.Signals | null = null;

/** Registers what the running command leaves behind if stopped now; returns the unregister call. */
export function onInterrupt(what: string | (() => string), cleanup?: () => Promise<void> | void): () => void {
  const job: Job = { what, cleanup };
  jobs.push(job);
  return () => {
    const i = jobs.indexOf(job);
    if (i >= 0) jobs.splice(i, 1);
  };
}

/** The signal that stopped the command, or null; errors thrown after it are its echo, not news. */
export function interruptedBy(): NodeJS.Signals | null {
  return interrupted;
}

export function installInterruptHandlers(): void {
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => void handle(sig));
}

async function handle(sig: NodeJS.Signals): Promise<void> {
  const status = 128 + (os.constants.signals[sig] ?? 0);
  if (interrupted) process.exit(status);
  interrupted = sig;
  const pending = jobs.splice(0).reverse();
  let timer: NodeJS.Timeout | undefined;
  const cleanups = Promise.allSettled(pending.map(async (j) => j.cleanup?.()));
  await Promise.race([cleanups, new Promise<void>((r) => (timer = setTimeout(r, CLEANUP_TIMEOUT_MS)))]);
  clearTimeout(timer);
  const what = pending.map((j) => (typeof j.what === "function" ? j.what() : j.what)).join("; ") || "the command did not finish";
  process.stderr.write(`cairn: error: ERR_INTERRUPTED: stopped by ${sig}: ${what}\n`);
  process.exit(status);
}
