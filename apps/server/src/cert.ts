// The server's TLS identity: a self-signed certificate made on first start (selfsigned), kept
// in <config>/cert/ (key mode 0600). Clients pin its SHA-256 fingerprint, which `fingerprint()`
// prints in the colon-hex form of `openssl x509 -fingerprint -sha256`.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { certificateFingerprint } from "@cairn/protocol";
import * as selfsigned from "selfsigned";
import { type ConfigDir, FILES, writeAtomic } from "./config.js";
import { makeDirs } from "@cairn/datastore";

export interface TlsIdentity {
  key: string;
  cert: string;
  fingerprint: string;
}

function paths(config: ConfigDir) {
  const dir = config.file(FILES.certDir);
  return { dir, key: path.join(dir, "proxy.key"), cert: path.join(dir, "proxy.pem") };
}

export function loadCertificate(config: ConfigDir): TlsIdentity | undefined {
  const p = paths(config);
  if (!fs.existsSync(p.key) || !fs.existsSync(p.cert)) return undefined;
  const cert = fs.readFileSync(p.cert, "utf8");
  return { key: fs.readFileSync(p.key, "utf8"), cert, fingerprint: certificateFingerprint(cert) };
}

/** Loads the certificate, or makes one; `created` tells whether this call made it. */
export async function ensureCertificate(config: ConfigDir): Promise<TlsIdentity & { created: boolean }> {
  const have = loadCertificate(config);
  if (have) return { ...have, created: false };
  const p = paths(config);
  makeDirs(p.dir, 0o700);
  const host = os.hostname();
  const pems = await selfsigned.generate([{ name: "commonName", value: host }], {
    keySize: 2048,
    notAfterDate: new Date(Date.now() + 3650 * 86400_000),
    algorithm: "sha256",
    extensions: [
      { name: "basicConstraints", cA: false },
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: host },
          { type: 2, value: "localhost" },
          { type: 7, ip: "127.0.0.1" },
          { type: 7, ip: "::1" },
        ],
      },
    ],
  });
  writeAtomic(p.key, pems.private);
  writeAtomic(p.cert, pems.cert);
  return { key: pems.private, cert: pems.cert, fingerprint: certificateFingerprint(pems.cert), created: true };
}
