// env-count.ts — whole-number tuning knobs read from the environment (CAIRN_WORKERS,
// CAIRN_POOL_DEPTH, CAIRN_UPLOAD_WINDOW, CAIRN_SESSION_TIMEOUT; client README "Environment"). A value that is set but is
// not a whole number in range is a usage error naming the variable, never silently replaced.
import { ClientError } from "./errors.js";

/** The knob `name` (1–`max`), or `fallback` when it is unset or empty. */
export function envCount(name: string, fallback: number, max = 64): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  const n = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isInteger(n) || n < 1 || n > max) {
    throw new ClientError("ERR_USAGE", `${name}=${JSON.stringify(text)} must be a whole number from 1 to ${max}`);
  }
  return n;
}
