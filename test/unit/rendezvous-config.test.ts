// Configuration layering of `qr-login server` and the small pure pieces of the rendezvous server.
import { describe, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ConfigError, defaultSqlitePath, envLayer, parseListen, readConfigFile, resolveConfig } from "../../server/rendezvous/config.js";
import { parseMode, remoteWhoamiVerifier, sequenceToken, VerifierUnavailableError } from "../../server/rendezvous/index.js";
import { nextTokenFor, tokenCounter } from "../../server/rendezvous/store.js";

describe("resolveConfig", () => {
  test("defaults: 127.0.0.1:8090, open, SQLite under XDG_DATA_HOME, TTL 180 s", () => {
    const c = resolveConfig([], { XDG_DATA_HOME: "/data" });
    expect(c).toMatchObject({ host: "127.0.0.1", port: 8090, mode: "open", store: "sqlite:/data/qr-login/rendezvous.sqlite", ttlMs: 180_000 });
    expect(defaultSqlitePath({ HOME: "/home/u" })).toBe(path.join(os.homedir(), ".local/share/qr-login/rendezvous.sqlite"));
  });

  test("flags win over environment, which wins over the file", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "qrl-cfg-"));
    try {
      const file = path.join(dir, "rz.yaml");
      writeFileSync(file, "listen: 0.0.0.0:9000\nmode: off\nttl: 300\nstore: memory\nmax-sessions: 7\n");
      const fromFile = readConfigFile(file);
      expect(fromFile.mode).toBe("off"); // YAML 1.2: unquoted off is the string "off"
      const env = envLayer({ QR_LOGIN_RENDEZVOUS_MODE: "public", QR_LOGIN_RENDEZVOUS_TTL: "200" });
      const c = resolveConfig([fromFile, env, { ttl: "150" }]);
      expect(c).toMatchObject({ host: "0.0.0.0", port: 9000, mode: "open", ttlMs: 150_000, store: "memory", limits: { maxSessions: 7 } });
      const json = path.join(dir, "rz.json");
      writeFileSync(json, JSON.stringify({ mode: "authenticated", homeserver: "https://hs.example", create_per_minute: 5 }));
      expect(resolveConfig([readConfigFile(json)])).toMatchObject({ mode: "authenticated", homeserver: "https://hs.example", limits: { createPerWindow: 5 } });
      writeFileSync(file, "colour: blue\n");
      expect(() => readConfigFile(file)).toThrow(/unknown setting "colour"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("rejects what the MSC or common sense rules out", () => {
    expect(() => resolveConfig([{ ttl: "60" }])).toThrow(ConfigError);
    expect(() => resolveConfig([{ ttl: "301" }])).toThrow(/between 120 and 300/);
    expect(() => resolveConfig([{ mode: "closed" }])).toThrow(/off, open/);
    expect(() => resolveConfig([{ mode: "authenticated" }])).toThrow(/homeserver/);
    expect(() => resolveConfig([{ max_sessions: "-1" }])).toThrow(/integer/);
    expect(resolveConfig([{ trust_proxy: "10.0.0.1, 10.0.0.2" }]).trustProxy).toEqual(["10.0.0.1", "10.0.0.2"]);
    expect(resolveConfig([{ trust_proxy: "2" }]).trustProxy).toBe(2);
  });

  test("listen addresses", () => {
    expect(parseListen("[::1]:8091")).toEqual({ host: "::1", port: 8091 });
    expect(parseListen(":8092")).toEqual({ host: "127.0.0.1", port: 8092 });
    expect(parseListen("8093")).toEqual({ host: "127.0.0.1", port: 8093 });
    expect(() => parseListen("localhost")).toThrow(ConfigError);
    expect(() => parseListen("h:70000")).toThrow(/range/);
  });

  test("modes: public is an alias of open", () => {
    expect(parseMode("public")).toBe("open");
    expect(parseMode("Authenticated")).toBe("authenticated");
    expect(() => parseMode("")).toThrow();
  });
});

describe("sequence tokens", () => {
  test("derived from (id, counter, data): change on every write, even of identical data", () => {
    const t0 = sequenceToken("abc", 0, "same");
    const t1 = sequenceToken("abc", 1, "same");
    expect(t0).not.toBe(t1);
    expect(sequenceToken("abd", 0, "same")).not.toBe(t0);
    expect(sequenceToken("abc", 0, "samf")).not.toBe(t0);
    expect(sequenceToken("abc", 0, "same")).toBe(t0); // deterministic
    expect(t0).toMatch(/^[0-9A-Za-z._~-]{27}$/);
    expect(tokenCounter(t1)).toBe(1);
    expect(nextTokenFor("abc", t0, "same")).toBe(t1);
    expect(tokenCounter("garbage")).toBeNull();
    expect(nextTokenFor("abc", "x".repeat(27) + "=", "d")).toBeNull();
  });
});

describe("remote whoami verifier", () => {
  test("asks /account/whoami once per token within the cache lifetime", async () => {
    let clock = 0;
    const calls: string[] = [];
    const fakeFetch = (async (url: string | URL | Request, init?: RequestInit) => {
      const auth = new Headers(init?.headers).get("authorization");
      calls.push(`${String(url)} ${auth}`);
      if (auth === "Bearer good") return new Response(JSON.stringify({ user_id: "@a:hs" }), { status: 200 });
      if (auth === "Bearer down") return new Response("oops", { status: 502 });
      return new Response(JSON.stringify({ errcode: "M_UNKNOWN_TOKEN" }), { status: 401 });
    }) as typeof fetch;
    const verify = remoteWhoamiVerifier({ homeserver: "https://hs.example/base", fetch: fakeFetch, now: () => clock, validTtlMs: 1000, invalidTtlMs: 100 });
    expect(await verify("good")).toEqual({ userId: "@a:hs" });
    expect(await verify("good")).toEqual({ userId: "@a:hs" });
    expect(calls).toEqual(["https://hs.example/base/_matrix/client/v3/account/whoami Bearer good"]);
    expect(await verify("bad")).toBeNull();
    clock = 500;
    expect(await verify("good")).toEqual({ userId: "@a:hs" });
    expect(await verify("bad")).toBeNull();
    expect(calls).toHaveLength(3); // "bad" expired from the cache after 100 ms
    clock = 1001;
    await verify("good");
    expect(calls).toHaveLength(4);
    await expect(verify("down")).rejects.toBeInstanceOf(VerifierUnavailableError);
  });
});
