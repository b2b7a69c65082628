// Progress bars (cli-progress) on a TTY only: bytes done, speed, ETA on stderr. When stderr is
// not a TTY (scripts, tests, the benchmark wrapper) every method is a no-op, so the output
// stays quiet and machine-readable.

import cliProgress from "cli-progress";
import { humanBytes } from "./output.js";

export interface Progress {
  add(bytes: number): void;
  stop(): void;
}

const NONE: Progress = { add() {}, stop() {} };

export function startProgress(label: string, total: number, enabled = Boolean(process.stderr.isTTY)): Progress {
  if (!enabled) return NONE;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      // Without a known total (file trees) only bytes and speed make sense.
      format: total > 0 ? `${label} [{bar}] {percentage}% | {done} of {all} | {speed}/s | ETA {eta_formatted}` : `${label} {done} | {speed}/s`,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let done = 0;
  const payload = () => ({ done: humanBytes(done), all: humanBytes(total), speed: humanBytes(Math.round(done / Math.max(0.001, (Date.now() - started) / 1000))) });
  bar.start(Math.max(1, total), 0, payload());
  return {
    add(bytes: number) {
      done += bytes;
      bar.update(total > 0 ? Math.min(done, total) : 0, payload());
    },
    stop() {
      bar.stop();
    },
  };
}
