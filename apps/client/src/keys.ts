// Opening a key file for backup or restore: the passphrase comes from CAIRN_KEY_PASSPHRASE or a
// TTY prompt without echo; a key file without a KDF needs none. Returns the CryptConfig and the
// raw key (the worker threads need it to encrypt and to compute keyed digests).

import { CryptConfig, KeyConfig } from "@cairn/format";
import { ClientError } from "./errors.js";
import { isInteractive, readHidden } from "./prompt.js";
import { absolutePath } from "./local-path.js";

export interface OpenedKey {
  crypt: CryptConfig;
  key: Buffer;
  fingerprint: string;
}

export async function passphrase(prompt: string, envName = "CAIRN_KEY_PASSPHRASE"): Promise<string> {
  const env = process.env[envName];
  if (env !== undefined && env !== "") return env;
  if (isInteractive()) return readHidden(prompt);
  throw new ClientError("ERR_NO_PASSPHRASE", `a passphrase is needed: set ${envName} or run on a terminal`);
}

export async function loadKeyConfig(file: string): Promise<KeyConfig> {
  try {
    return await KeyConfig.load(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new ClientError("ERR_KEY", `key file ${file} does not exist`);
    // a system error says what went wrong, not with which file
    if (typeof code === "string" && /^E[A-Z]+$/.test(code)) throw new ClientError("ERR_KEY", `cannot read key file ${file}: ${(err as Error).message}`);
    throw err;
  }
}

export async function openKeyFile(given: string): Promise<OpenedKey> {
  const file = absolutePath(given, "key file", "ERR_KEY");
  const config = await loadKeyConfig(file);
  const pass = config.kdf === null ? undefined : await passphrase(`Encryption key password for ${file}: `);
  const key = await config.decrypt(pass);
  const crypt = new CryptConfig(key);
  return { crypt, key, fingerprint: crypt.fingerprintString() };
}
