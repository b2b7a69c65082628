// From command-line options and environment to a connection: the repository (`--repository` or
// CAIRN_REPOSITORY), the secret (CAIRN_PASSWORD: a token secret, or a user's password that is
// exchanged for a ticket), and the pinned fingerprint (`--fingerprint`, CAIRN_FINGERPRINT, the
// remembered one, or — on a TTY — the server's after the user confirms it).

import tls from "node:tls";
import { type Auth, CairnClient, type ConnectOptions, certificateFingerprint, normalizeFingerprint } from "@cairn/protocol/client";
import { ClientError } from "./errors.js";
import { lookupFingerprint, rememberFingerprint } from "./fingerprint-store.js";
import { confirm, isInteractive } from "./prompt.js";
import { isTokenId, parseRepository, type Repository } from "./repository.js";
import { envCount } from "./env-count.js";

export interface RepoOptions {
  repository?: string;
  fingerprint?: string;
  ns?: string;
}

export interface Connection {
  repo: Repository;
  store: string;
  ns?: string;
  connect: ConnectOptions;
}

export function repositoryFromOptions(opts: RepoOptions): Repository {
  const text = opts.repository ?? process.env.CAIRN_REPOSITORY;
  if (text === undefined || text === "") throw new ClientError("ERR_REPOSITORY", "no repository given: use --repository or set CAIRN_REPOSITORY");
  return parseRepository(text);
}

/** Connects a bare TLS socket without trust checks, only to learn the certificate fingerprint. */
export function probeFingerprint(host: string, port: number, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, rejectUnauthorized: false, servername: undefined, ALPNProtocols: ["http/1.1"] });
    const fail = (message: string) => {
      const e = new Error(`cannot connect to ${host}:${port}: ${message}`) as Error & { code: string };
      e.code = "ERR_CONNECTION";
      reject(e);
    };
    const timer = setTimeout(() => {
      socket.destroy();
      fail(`no TLS handshake within ${timeoutMs / 1000} s`);
    }, timeoutMs);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      const raw = socket.getPeerCertificate()?.raw;
      socket.destroy();
      if (!raw) reject(new ClientError("ERR_FINGERPRINT_UNKNOWN", `server ${host}:${port} presented no certificate`));
      else resolve(certificateFingerprint(raw));
    });
    socket.once("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      fail(err.message);
    });
  });
}

async function resolveFingerprint(repo: Repository, explicit?: string): Promise<string> {
  const given = explicit ?? process.env.CAIRN_FINGERPRINT;
  if (given) {
    try {
      return normalizeFingerprint(given);
    } catch {
      throw new ClientError("ERR_USAGE", `fingerprint must be 32 bytes of hex (AA:BB:…), got "${given}"`);
    }
  }
  const known = lookupFingerprint(repo.host, repo.port);
  if (known) return known;
  const actual = await probeFingerprint(repo.host, repo.port);
  if (isInteractive()) {
    process.stderr.write(`The server certificate of ${repo.host}:${repo.port} is not known.\nfingerprint: ${actual}\n`);
    if (await confirm("Are you sure you want to continue connecting?")) {
      rememberFingerprint(repo.host, repo.port, actual);
      return actual;
    }
  }
  throw new ClientError(
    "ERR_FINGERPRINT_UNKNOWN",
    `server ${repo.host}:${repo.port} has the unknown certificate fingerprint ${actual}; check it and pass --fingerprint ${actual} (or set CAIRN_FINGERPRINT)`,
  );
}

function secret(): string {
  const s = process.env.CAIRN_PASSWORD;
  if (s === undefined || s === "") throw new ClientError("ERR_NO_SECRET", "no secret given: set CAIRN_PASSWORD to the API token secret (or the user's password)");
  return s;
}

/** Everything needed to talk to the server; logs in with a password when the auth id is a user. */
export async function openConnection(opts: RepoOptions): Promise<Connection> {
  const repo = repositoryFromOptions(opts);
  const pass = secret();
  // a backup or restore session gives up on a server that sends nothing for this long
  const sessionTimeoutMs = envCount("CAIRN_SESSION_TIMEOUT", 120, 86_400) * 1000;
  const fingerprint = await resolveFingerprint(repo, opts.fingerprint);
  const base = { host: repo.host, port: repo.port, fingerprint };
  let auth: Auth;
  if (isTokenId(repo.authId)) {
    auth = { tokenId: repo.authId, secret: pass };
  } else {
    const { client, ticket } = await CairnClient.login({ ...base, username: repo.authId, password: pass });
    await client.close();
    auth = { ticket: ticket.ticket };
  }
  return { repo, store: repo.store, ns: opts.ns || undefined, connect: { ...base, auth, sessionTimeoutMs } };
}

/** A REST client for the connection; close it when done. */
export function restClient(conn: Connection): CairnClient {
  return new CairnClient(conn.connect);
}
