// TLS trust for clients: either pin the server certificate's SHA-256 fingerprint (colon hex, as
// `openssl x509 -fingerprint -sha256` prints it) or trust CAs. With a pin, the handshake accepts
// any chain, then the peer certificate is compared with the pin *before a single request byte
// (and thus the token secret) is written*; a mismatch is ProtocolError ERR_FINGERPRINT.

import { createHash, X509Certificate } from "node:crypto";
import tls from "node:tls";
import { ProtocolError } from "./errors.js";

export interface TlsTrust {
  /** Expected SHA-256 fingerprint of the server certificate (colon hex, any case). */
  fingerprint?: string;
  /** Extra CA certificates (PEM) to trust when no fingerprint is pinned. */
  ca?: string | Buffer | Array<string | Buffer>;
}

export function normalizeFingerprint(fp: string): string {
  const hex = fp.replace(/[^0-9a-fA-F]/g, "").toUpperCase();
  if (hex.length !== 64) {
    throw new ProtocolError("ERR_BAD_REQUEST", `fingerprint must be 32 bytes of hex, got "${fp}"`);
  }
  return hex.match(/../g)!.join(":");
}

/** Fingerprint of a DER or PEM certificate, colon hex upper case. */
export function certificateFingerprint(cert: Buffer | string): string {
  if (typeof cert === "string" || cert.subarray(0, 10).toString("latin1").startsWith("-----")) {
    return normalizeFingerprint(new X509Certificate(cert).fingerprint256);
  }
  return normalizeFingerprint(createHash("sha256").update(cert).digest("hex"));
}

/** Throws ERR_FINGERPRINT unless the socket's peer certificate matches the pin. */
export function checkPeerFingerprint(socket: tls.TLSSocket, expected: string): void {
  const cert = socket.getPeerCertificate();
  const want = normalizeFingerprint(expected);
  if (!cert?.raw) {
    throw new ProtocolError("ERR_FINGERPRINT", "server presented no certificate");
  }
  const got = certificateFingerprint(cert.raw);
  if (got !== want) {
    throw new ProtocolError("ERR_FINGERPRINT", `server certificate fingerprint ${got} does not match the pinned ${want}`);
  }
}

/**
 * Opens a TLS connection and resolves once the peer is trusted (pin checked, or CA verified by
 * Node). The returned socket is ready for HTTP; used by the ws client through `createConnection`.
 */
export function connectTrusted(host: string, port: number, trust: TlsTrust, timeoutMs = 30_000): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const pinned = trust.fingerprint !== undefined;
    const socket = tls.connect({
      host,
      port,
      servername: isIp(host) ? undefined : host,
      rejectUnauthorized: !pinned,
      ca: pinned ? undefined : trust.ca,
      ALPNProtocols: ["http/1.1"],
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ProtocolError("ERR_CONNECTION", `TLS connection to ${host}:${port} timed out`));
    }, timeoutMs);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      socket.removeListener("error", onError);
      try {
        if (pinned) checkPeerFingerprint(socket, trust.fingerprint!);
      } catch (err) {
        socket.destroy();
        reject(err);
        return;
      }
      resolve(socket);
    });
    const onError = (err: Error) => {
      clearTimeout(timer);
      reject(new ProtocolError("ERR_CONNECTION", `cannot connect to ${host}:${port}: ${err.message}`, { cause: err }));
    };
    socket.once("error", onError);
  });
}

function isIp(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(":");
}
