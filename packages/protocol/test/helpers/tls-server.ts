// The TLS side of the protocol tests' loopback servers: the fixture certificate (made with
// `openssl req -x509`; fingerprint.txt is `openssl x509 -fingerprint -sha256`), listening on a
// free 127.0.0.1 port, and closing.

import fs from "node:fs";
import type { Server } from "node:https";
import type { AddressInfo } from "node:net";

export interface FixtureTls {
  cert: string;
  key: string;
  /** SHA-256 fingerprint of `cert`, colon-separated hex as fingerprint.txt holds it. */
  fingerprint: string;
}

export function fixtureTls(): FixtureTls {
  const read = (name: string) => fs.readFileSync(new URL(`../fixtures/${name}`, import.meta.url), "utf8");
  return { cert: read("cert.pem"), key: read("key.pem"), fingerprint: read("fingerprint.txt").trim().split("=")[1] };
}

/** Listens on a free loopback port and returns it. */
export async function listenLoopback(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
}

export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((r) => server.close(() => r()));
}
