import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ClientError, formatRepository, parseRepository, parseSnapshot } from "../dist/index.js";

describe("repository strings", () => {
  it("parses the PBS forms", () => {
    expect(parseRepository("store1")).toEqual({ authId: "root@pam", host: "localhost", port: 8007, store: "store1" });
    expect(parseRepository("backup.example.com:store1")).toEqual({ authId: "root@pam", host: "backup.example.com", port: 8007, store: "store1" });
    expect(parseRepository("10.0.0.5:8008:store1")).toMatchObject({ host: "10.0.0.5", port: 8008, store: "store1" });
    expect(parseRepository("alice@pbs@host1:store1")).toMatchObject({ authId: "alice@pbs", host: "host1", port: 8007 });
    expect(parseRepository("alice@pbs!ci@host1:9000:store_2")).toEqual({ authId: "alice@pbs!ci", host: "host1", port: 9000, store: "store_2" });
    expect(parseRepository("[::1]:store1")).toMatchObject({ host: "::1", port: 8007 });
    expect(parseRepository("alice@pbs!t@[fe80::1]:8007:s")).toEqual({ authId: "alice@pbs!t", host: "fe80::1", port: 8007, store: "s" });
  });

  it.each([
    ["", "empty"],
    [":store", "empty host"],
    ["host:", "datastore name"],
    ["host:99999:store", "port"],
    ["host:0:store", "port"],
    ["host:port:store", "port"],
    ["::1:store", "brackets"],
    ["[::1:store", "unclosed"],
    ["[nonsense]:store", "IPv6"],
    ["alice@host:store", "auth id"],
    ["alice@pbs!@host:store", "auth id"],
    ["bad_host!:store", "host name"],
    ["host:../etc", "whitespace or '/'"],
    ["host:st ore", "whitespace"],
    ["host:a..b", "datastore name"],
  ])("refuses %j with a clear message", (text, why) => {
    let err: unknown;
    try {
      parseRepository(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ClientError);
    expect((err as ClientError).code).toBe("ERR_REPOSITORY");
    expect((err as Error).message).toContain(why);
  });

  it("formats what it parses (round trip)", () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,10}$/);
    const host = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}[a-z0-9](\.[a-z]{2,5})?$/);
    fc.assert(
      fc.property(name, host, name, fc.option(name, { nil: undefined }), fc.integer({ min: 1, max: 65535 }), fc.boolean(), (user, host, store, token, port, v6) => {
        const r = { authId: `${user}@pbs${token ? `!${token}` : ""}`, host: v6 ? "2001:db8::7" : host, port, store };
        expect(parseRepository(formatRepository(r))).toEqual(r);
      }),
    );
  });

  it("parses snapshot and group arguments", () => {
    expect(parseSnapshot("host/web1")).toEqual({ type: "host", id: "web1" });
    expect(parseSnapshot("host/web1/2026-11-22T15:04:05Z")).toEqual({ type: "host", id: "web1", time: Date.UTC(2026, 10, 22, 15, 4, 5) / 1000 });
    expect(() => parseSnapshot("disk/web1")).toThrow(/backup type/);
    expect(() => parseSnapshot("host/web1/yesterday")).toThrow(/snapshot time/);
    // out-of-range fields would roll over into another snapshot's time
    for (const t of ["1969-12-31T23:59:61Z", "2026-12-03T05:32:77Z", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-12-03T24:00:00Z"]) {
      expect(() => parseSnapshot(`host/web1/${t}`), t).toThrow(/is not a snapshot time/);
    }
    expect(() => parseSnapshot("host")).toThrow(/TYPE\/ID/);
  });
});
