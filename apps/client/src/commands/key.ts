// `cairn key create|show|change-passphrase`: key files (KeyConfig of @cairn/format). The key is
// 32 random bytes, protected by a passphrase through scrypt (default) or stored bare (--kdf none).
// Passphrases come from CAIRN_KEY_PASSPHRASE (the current one) and CAIRN_NEW_KEY_PASSPHRASE (a new
// one; `key create` also takes CAIRN_KEY_PASSPHRASE) or a silent prompt.

import fs from "node:fs";
import path from "node:path";
import { KeyConfig } from "@cairn/format";
import { ClientError } from "../errors.js";
import { configHome } from "../fingerprint-store.js";
import { loadKeyConfig, passphrase } from "../keys.js";
import { isInteractive, readHidden } from "../prompt.js";
import { absolutePath, makeDirs } from "../local-path.js";

export function defaultKeyFile(): string {
  return path.join(configHome(), "encryption-key.json");
}

/** The new passphrase: the first of `envNames` that is set, else asked twice on a terminal. */
async function newPassphrase(...envNames: string[]): Promise<string> {
  for (const name of envNames) {
    const env = process.env[name];
    if (env !== undefined && env !== "") return env;
  }
  if (!isInteractive()) throw new ClientError("ERR_NO_PASSPHRASE", `a new passphrase is needed: set ${envNames[0]} or run on a terminal`);
  const a = await readHidden("Encryption key password: ");
  const b = await readHidden("Verify password: ");
  if (a !== b) throw new ClientError("ERR_USAGE", "the passwords do not match");
  return a;
}

export interface KeyInfo {
  path: string;
  kdf: string;
  created: string;
  modified: string;
  fingerprint: string;
  hint?: string;
}

function info(file: string, k: KeyConfig): KeyInfo {
  const fp = k.fingerprint ? [...k.fingerprint.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join(":") : "unknown";
  return {
    path: file,
    kdf: k.kdf?.kind ?? "none",
    created: new Date(k.created * 1000).toISOString(),
    modified: new Date(k.modified * 1000).toISOString(),
    fingerprint: fp,
    hint: k.hint,
  };
}

export async function keyCreate(given: string, kdf: "none" | "scrypt" | "pbkdf2", hint?: string): Promise<KeyInfo> {
  const file = absolutePath(given, "key file", "ERR_KEY");
  if (fs.existsSync(file)) throw new ClientError("ERR_KEY", `key file ${file} already exists; refusing to overwrite it`);
  const pass = kdf === "none" ? undefined : await newPassphrase("CAIRN_NEW_KEY_PASSPHRASE", "CAIRN_KEY_PASSPHRASE");
  const { config } = await KeyConfig.generate(pass, { kdf, hint });
  makeDirs(path.dirname(path.resolve(file)), 0o700);
  await config.save(file);
  return info(file, config);
}

export async function keyShow(given: string): Promise<KeyInfo> {
  const file = absolutePath(given, "key file", "ERR_KEY");
  return info(file, await loadKeyConfig(file));
}

export async function keyChangePassphrase(given: string, kdf?: "none" | "scrypt" | "pbkdf2"): Promise<KeyInfo> {
  const file = absolutePath(given, "key file", "ERR_KEY");
  const k = await loadKeyConfig(file);
  const old = k.kdf === null ? undefined : await passphrase(`Current password for ${file}: `);
  const target = kdf ?? k.kdf?.kind ?? "scrypt";
  const pass = target === "none" ? undefined : await newPassphrase("CAIRN_NEW_KEY_PASSPHRASE");
  const next = await k.changePassphrase(old, pass, { kdf: target });
  await next.save(file);
  return info(file, next);
}
