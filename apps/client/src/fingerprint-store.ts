// Remembered server fingerprints, like ssh's known_hosts: `$XDG_CONFIG_HOME/cairn/fingerprints.json`
// (default ~/.config/cairn), a JSON object `"host:port" → "AA:BB:…"`. A fingerprint is stored only
// after the user confirmed it on a TTY; without a TTY an unknown server is refused.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { makeDirs } from "./local-path.js";

export function configHome(): string {
  const xdg = process.env.XDG_CONFIG_HOME;
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), ".config"), "cairn");
}

export function fingerprintFile(): string {
  return path.join(configHome(), "fingerprints.json");
}

function key(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

function readAll(): Record<string, string> {
  try {
    const v = JSON.parse(fs.readFileSync(fingerprintFile(), "utf8")) as unknown;
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, string>) : {};
  } catch {
    return {};
  }
}

export function lookupFingerprint(host: string, port: number): string | undefined {
  const v = readAll()[key(host, port)];
  return typeof v === "string" ? v : undefined;
}

export function rememberFingerprint(host: string, port: number, fingerprint: string): void {
  const all = readAll();
  all[key(host, port)] = fingerprint;
  const file = fingerprintFile();
  makeDirs(path.dirname(file), 0o700);
  const tmp = `${file}.tmp${process.pid}`;
  fs.writeFileSync(tmp, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}
