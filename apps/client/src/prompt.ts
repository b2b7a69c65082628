// Terminal questions: a passphrase read without echo (raw mode) and a yes/no confirmation. Both
// need a TTY on stdin; callers check `process.stdin.isTTY` first and fall back to env variables.

import readline from "node:readline";

export function isInteractive(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY);
}

export function readHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  // echo off before the prompt shows: keys typed as soon as it appears are not echoed
  stdin.setRawMode(true);
  process.stderr.write(prompt);
  stdin.resume();
  return new Promise((resolve) => {
    let s = "";
    const onData = (d: Buffer) => {
      for (const ch of d.toString("utf8")) {
        if (ch === "\r" || ch === "\n") {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.removeListener("data", onData);
          process.stderr.write("\n");
          resolve(s);
          return;
        }
        if (ch === "\u0003") {
          // Ctrl-C in raw mode is a byte, not a signal: raise the signal, so the interrupt
          // handler reports it (one line, exit 130) as anywhere else
          stdin.setRawMode(false);
          stdin.removeListener("data", onData);
          process.stderr.write("\n");
          process.kill(process.pid, "SIGINT");
          return;
        }
        if (ch === "\u007f" || ch === "\b") s = s.slice(0, -1);
        else s += ch;
      }
    };
    stdin.on("data", onData);
  });
}

export async function confirm(question: string): Promise<boolean> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  // readline takes Ctrl-C itself and, with no listener, only pauses: the question would never
  // be answered and cairn would end with status 0. Pass it on as the signal.
  rl.on("SIGINT", () => {
    process.stderr.write("\n");
    process.kill(process.pid, "SIGINT");
  });
  try {
    const answer: string = await new Promise((resolve) => rl.question(`${question} (y/n): `, resolve));
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
