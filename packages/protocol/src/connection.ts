// Where and as whom a client connects: server address, credentials and TLS trust, shared by the
// REST client and both session kinds. Default port 8007, as PBS.

import { ProtocolError } from "./errors.js";
import type { TlsTrust } from "./tls-pinning.js";

export const DEFAULT_PORT = 8007;

export type Auth = { tokenId: string; secret: string } | { ticket: string };

export interface ConnectOptions {
  /** `https://host:port` (alternative to host/port). */
  url?: string;
  host?: string;
  port?: number;
  auth: Auth;
  /** Pinned SHA-256 fingerprint of the server certificate; without it, CAs are trusted. */
  fingerprint?: string;
  ca?: TlsTrust["ca"];
  /** A session whose server sends nothing, not even a pong, for this long fails (default 120 s). */
  sessionTimeoutMs?: number;
}

export interface Endpoint {
  host: string;
  port: number;
  trust: TlsTrust;
  authHeaders: Record<string, string>;
  sessionTimeoutMs?: number;
}

export function resolveEndpoint(opts: ConnectOptions): Endpoint {
  let host = opts.host;
  let port = opts.port;
  if (opts.url !== undefined) {
    let u: URL;
    try {
      u = new URL(opts.url);
    } catch {
      throw new ProtocolError("ERR_BAD_REQUEST", `not a URL: ${opts.url}`);
    }
    if (u.protocol !== "https:") throw new ProtocolError("ERR_BAD_REQUEST", `cairn servers speak https only, got ${u.protocol}`);
    host = u.hostname.replace(/^\[|\]$/g, "");
    port = u.port === "" ? DEFAULT_PORT : Number(u.port);
  }
  if (!host) throw new ProtocolError("ERR_BAD_REQUEST", "no server given (url or host)");
  return {
    host,
    port: port ?? DEFAULT_PORT,
    trust: { fingerprint: opts.fingerprint, ca: opts.ca },
    authHeaders: authHeaders(opts.auth),
    sessionTimeoutMs: opts.sessionTimeoutMs,
  };
}

export function authHeaders(auth: Auth): Record<string, string> {
  if ("ticket" in auth) return { cookie: `CAIRNAuthCookie=${encodeURIComponent(auth.ticket)}` };
  return { authorization: `CAIRNAPIToken ${auth.tokenId}:${auth.secret}` };
}

export function hostForUrl(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}
