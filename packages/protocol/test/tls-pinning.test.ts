import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CairnClient, certificateFingerprint, normalizeFingerprint, ProtocolError } from "../src/index.js";

describe("TLS fingerprint pinning", () => {
  let server: ReturnType<typeof createServer>;
  let port: number;
  let fp: string;
  beforeAll(async () => {
    // Fixture made with `openssl req -x509`; fingerprint.txt is `openssl x509 -fingerprint -sha256`.
    const cert = fs.readFileSync(new URL("./fixtures/cert.pem", import.meta.url), "utf8");
    const key = fs.readFileSync(new URL("./fixtures/key.pem", import.meta.url), "utf8");
    fp = fs.readFileSync(new URL("./fixtures/fingerprint.txt", import.meta.url), "utf8").trim().split("=")[1];
    server = createServer({ key, cert }, (req, res) => {
      res.setHeader("content-type", "application/json");
      if (req.headers.authorization === "CAIRNAPIToken a@pbs!t:s") res.end(JSON.stringify({ data: { version: "x", release: "1", repoid: "r" } }));
      else {
        res.statusCode = 401;
        res.end(JSON.stringify({ error: { code: "ERR_AUTH", message: "no" } }));
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("normalizes fingerprints in any case and separator", () => {
    const hex = "ab".repeat(32);
    expect(normalizeFingerprint(hex)).toBe("AB:".repeat(31) + "AB");
    expect(() => normalizeFingerprint("abc")).toThrow(ProtocolError);
  });

  it("computes the same SHA-256 fingerprint as openssl", () => {
    const pem = fs.readFileSync(new URL("./fixtures/cert.pem", import.meta.url), "utf8");
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
