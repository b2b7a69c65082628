import { createServer } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeServer, fixtureTls, listenLoopback } from "./helpers/tls-server.js";
import { CairnClient, certificateFingerprint, normalizeFingerprint, ProtocolError } from "../src/index.js";

describe("TLS fingerprint pinning", () => {
  let server: ReturnType<typeof createServer>;
  let port: number;
  let fp: string;
  beforeAll(async () => {
    const { cert, key, fingerprint } = fixtureTls();
    fp = fingerprint;
    server = createServer({ key, cert }, (req, res) => {
      res.setHeader("content-type", "application/json");
      if (req.headers.authorization === "CAIRNAPIToken a@pbs!t:s") res.end(JSON.stringify({ data: { version: "x", release: "1", repoid: "r" } }));
      else {
        res.statusCode = 401;
        res.end(JSON.stringify({ error: { code: "ERR_AUTH", message: "no" } }));
      }
    });
    port = await listenLoopback(server);
  });
  afterAll(() => closeServer(server));

  it("normalizes fingerprints in any case and separator", () => {
    const hex = "ab".repeat(32);
    expect(normalizeFingerprint(hex)).toBe("AB:".repeat(31) + "AB");
    expect(() => normalizeFingerprint("abc")).toThrow(ProtocolError);
  });

  it("computes the same SHA-256 fingerprint as openssl", () => {
    const pem = fixtureTls().cert;
    expect(certificateFingerprint(pem)).toBe(fp);
  });

  it("talks to the pinned server and refuses another fingerprint before sending credentials", async () => {
    const ok = new CairnClient({ host: "127.0.0.1", port, fingerprint: fp.toLowerCase(), auth: { tokenId: "a@pbs!t", secret: "s" } });
    expect((await ok.version()).version).toBe("x");
    await ok.close();
    let seen = 0;
    server.on("request", () => seen++);
    const bad = new CairnClient({ host: "127.0.0.1", port, fingerprint: "00".repeat(32), auth: { tokenId: "a@pbs!t", secret: "s" } });
    await expect(bad.version()).rejects.toMatchObject({ code: "ERR_FINGERPRINT" });
    await bad.close();
    expect(seen).toBe(0);
  });

  it("maps error bodies to ProtocolError with the server's code and status", async () => {
    const c = new CairnClient({ host: "127.0.0.1", port, fingerprint: fp, auth: { tokenId: "a@pbs!t", secret: "wrong" } });
    await expect(c.version()).rejects.toMatchObject({ code: "ERR_AUTH", status: 401 });
    await c.close();
  });
});
