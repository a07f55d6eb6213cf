// Configuration layering of `qr-login server` and the small pure pieces of the rendezvous server.
import { describe, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ConfigError, defaultSqlitePath, envLayer, parseListen, readConfigFile, resolveConfig } from "../../server/rendezvous/config.js";
import { parseMode, remoteWhoamiVerifier, sequenceToken, VerifierUnavailableError } from "../../server/rendezvous/index.js";
import { nextTokenFor, tokenCounter } from "../../server/rendezvous/store.js";
import { httpDate, ifNoneMatchHolds, parseEntityTags, readIfMatch } from "../../server/rendezvous/conditional.js";
import { clientKey } from "../../server/rendezvous/client-key.js";
import { logUrl } from "../../server/rendezvous/log-url.js";
import { fastifyTrustProxy, trustedPeer, trustProxyWarning } from "../../server/rendezvous/proxy-trust.js";

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

  test("the 2024 API: its lifetime range (60–300 s, default the 2025 ttl), switching either API off, the public base URL", () => {
    expect(resolveConfig([{ ttl: "240" }])).toMatchObject({ ttlMs: 240_000, ttl2024Ms: 240_000, apis: ["2025", "2024"] });
    expect(resolveConfig([{ ttl_2024: "60" }])).toMatchObject({ ttlMs: 180_000, ttl2024Ms: 60_000 });
    expect(() => resolveConfig([{ ttl_2024: "59" }])).toThrow(/ttl_2024 must be between 60 and 300/);
    expect(() => resolveConfig([{ ttl_2024: "301" }])).toThrow(/ttl_2024/);
    expect(resolveConfig([{ api_2024: "off" }]).apis).toEqual(["2025"]);
    expect(resolveConfig([{ api_2025: false }]).apis).toEqual(["2024"]);
    expect(() => resolveConfig([{ api_2024: "maybe" }])).toThrow(/api_2024 must be on or off/);
    expect(resolveConfig([{ public_base_url: "https://rz.example.org" }]).publicBaseUrl).toBe("https://rz.example.org/");
    expect(resolveConfig([{ public_base_url: "https://example.org/rz" }]).publicBaseUrl).toBe("https://example.org/rz/");
    expect(() => resolveConfig([{ public_base_url: "example.org" }])).toThrow(/public_base_url/);
    expect(() => resolveConfig([{ public_base_url: "https://example.org/?x=1" }])).toThrow(/public_base_url/);
    expect(envLayer({ QR_LOGIN_RENDEZVOUS_TTL_2024: "90", QR_LOGIN_RENDEZVOUS_API_2025: "off", QR_LOGIN_RENDEZVOUS_PUBLIC_BASE_URL: "https://a.example/" }))
      .toEqual({ ttl_2024: "90", api_2025: "off", public_base_url: "https://a.example/" });
  });

  test("long-poll: long_poll_ms from 0 (off) to 25000, default 20000; caps of held GETs", () => {
    expect(resolveConfig([]).longPollMs).toBe(20_000);
    expect(resolveConfig([{ long_poll_ms: "0" }]).longPollMs).toBe(0);
    expect(() => resolveConfig([{ long_poll_ms: "25001" }])).toThrow(/at most 25000/);
    expect(() => resolveConfig([{ long_poll_ms: "-1" }])).toThrow(/integer/);
    expect(resolveConfig([{ long_poll_max_held: "500", long_poll_max_held_per_ip: 0 }]).limits).toMatchObject({ maxHeld: 500, maxHeldPerIp: 0 });
    expect(envLayer({ QR_LOGIN_RENDEZVOUS_LONG_POLL_MS: "15000" })).toEqual({ long_poll_ms: "15000" });
  });

  test("timeouts and connection limits: request_timeout_ms, max_connections_per_ip, max_pipelined, redis_timeout_ms, sqlite_busy_timeout_ms, token_checks_per_minute", () => {
    const defaults = resolveConfig([]);
    expect(defaults.connectionLimits).toEqual({});
    expect(defaults.requestTimeoutMs).toBeUndefined(); // the server's defaults apply
    const c = resolveConfig([{ request_timeout_ms: "5000", max_connections_per_ip: 50, max_pipelined: "4", redis_timeout_ms: "1500", sqlite_busy_timeout_ms: "0", token_checks_per_minute: "12" }]);
    expect(c).toMatchObject({ requestTimeoutMs: 5000, redisTimeoutMs: 1500, sqliteBusyTimeoutMs: 0, connectionLimits: { maxConnectionsPerIp: 50, maxPipelined: 4 }, limits: { tokenChecksPerWindow: 12, windowMs: 60_000 } });
    expect(resolveConfig([{ request_timeout_ms: "0" }]).requestTimeoutMs).toBe(0);
    expect(() => resolveConfig([{ request_timeout_ms: "500" }])).toThrow(/request_timeout_ms must be 0 \(none\) or at least 1000/);
    expect(() => resolveConfig([{ redis_timeout_ms: "0" }])).toThrow(/redis_timeout_ms must be at least 100/);
    expect(() => resolveConfig([{ max_pipelined: "-2" }])).toThrow(/integer/);
    expect(envLayer({ QR_LOGIN_RENDEZVOUS_REQUEST_TIMEOUT_MS: "8000", QR_LOGIN_RENDEZVOUS_MAX_CONNECTIONS_PER_IP: "10", QR_LOGIN_RENDEZVOUS_SQLITE_BUSY_TIMEOUT_MS: "100" }))
      .toEqual({ request_timeout_ms: "8000", max_connections_per_ip: "10", sqlite_busy_timeout_ms: "100" });
  });

  test("trust_proxy: addresses, CIDRs, names, a hop count or true; anything else is refused", () => {
    expect(resolveConfig([{ trust_proxy: "loopback, 10.0.0.0/8, fd00::/8" }]).trustProxy).toEqual(["loopback", "10.0.0.0/8", "fd00::/8"]);
    expect(resolveConfig([{ trust_proxy: "true" }]).trustProxy).toBe(true);
    expect(() => resolveConfig([{ trust_proxy: "proxy.example.org" }])).toThrow(/not an IP address/);
    expect(() => resolveConfig([{ trust_proxy: "10.0.0.0/33" }])).toThrow(ConfigError);
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

describe("entity tags of the 2024 API", () => {
  test("If-Match: one tag (a weak one counts as strong); *, lists and malformed values are refused", () => {
    expect(readIfMatch('"abc"')).toEqual({ ok: true, opaque: "abc" });
    expect(readIfMatch(' W/"abc" ')).toEqual({ ok: true, opaque: "abc" });
    expect(readIfMatch('w/"abc"')).toEqual({ ok: true, opaque: "abc" });
    expect(readIfMatch(undefined)).toMatchObject({ ok: false, errcode: "M_MISSING_PARAM" });
    for (const bad of ["*", '"a", "b"', "abc", '"a"b', '"a', "", '"a" "b"', 'W/ "a"']) expect([bad, readIfMatch(bad)]).toEqual([bad, expect.objectContaining({ ok: false, errcode: "M_INVALID_PARAM" })]);
    expect(readIfMatch(['"a"', '"a"'])).toMatchObject({ ok: false, errcode: "M_INVALID_PARAM" });
  });

  test("If-None-Match: weak comparison, lists with empty elements, *; malformed never matches", () => {
    expect(ifNoneMatchHolds('"t"', "t")).toBe(true);
    expect(ifNoneMatchHolds('W/"t"', "t")).toBe(true);
    expect(ifNoneMatchHolds('"a", , W/"t"', "t")).toBe(true);
    expect(ifNoneMatchHolds("*", "t")).toBe(true);
    expect(ifNoneMatchHolds('"u"', "t")).toBe(false);
    expect(ifNoneMatchHolds("t", "t")).toBe(false);
    expect(ifNoneMatchHolds(undefined, "t")).toBe(false);
    expect(parseEntityTags('"a",W/"b"')).toEqual({ kind: "tags", tags: [{ opaque: "a", weak: false }, { opaque: "b", weak: true }] });
    expect(parseEntityTags('"a" junk')).toEqual({ kind: "malformed" });
  });

  test("HTTP dates are IMF-fixdate, whole seconds", () => {
    expect(httpDate(784111777_999)).toBe("Sun, 06 Nov 1994 08:49:37 GMT");
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

describe("who a client is", () => {
  test("IPv4 addresses as they are, IPv6 per /64, IPv4-mapped IPv6 as IPv4", () => {
    expect(clientKey("192.0.2.1")).toBe("192.0.2.1");
    expect(clientKey("2001:db8:0:1:aaaa:bbbb:cccc:dddd")).toBe("2001:db8:0:1::/64");
    expect(clientKey("2001:DB8:0000:0001::1")).toBe("2001:db8:0:1::/64");
    expect(clientKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(clientKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(clientKey("::ffff:192.0.2.1")).toBe("192.0.2.1");
    expect(clientKey("::ffff:c000:201")).toBe("192.0.2.1");
    expect(clientKey("64:ff9b::192.0.2.1")).toBe("64:ff9b:0:0::/64");
    expect(clientKey("1::2::3")).toBe("1::2::3"); // not an address: counted as it is
  });

  test("trusted proxies: peers by address, CIDR or name; with true or a hop count every peer", () => {
    const peer = trustedPeer(["10.0.0.0/8", "loopback", "2001:db8::5"]);
    expect([peer("10.1.2.3"), peer("127.0.0.1"), peer("::1"), peer("::ffff:10.0.0.1"), peer("2001:db8::5")]).toEqual([true, true, true, true, true]);
    expect([peer("11.0.0.1"), peer("2001:db8::6"), peer("garbage")]).toEqual([false, false, false]);
    expect(trustedPeer("192.0.2.1, 192.0.2.2")("192.0.2.2")).toBe(true);
    expect(trustedPeer(undefined)("127.0.0.1")).toBe(false);
    expect(trustedPeer(true)("203.0.113.1")).toBe(true);
    expect(trustedPeer(2)("203.0.113.1")).toBe(true);
    const hops = fastifyTrustProxy(2) as (a: string, i: number) => boolean;
    expect([hops("x", 0), hops("x", 1), hops("x", 2)]).toEqual([true, true, false]);
    expect(trustProxyWarning(true)).toMatch(/forge|claim any address/);
    expect(trustProxyWarning(1)).toBeNull();
    expect(trustProxyWarning(["127.0.0.1"])).toBeNull();
  });
});

describe("request URLs in logs", () => {
  const id = "AbCdEfGhIjKlMnOpQrStUv";
  test("no spelling of a path keeps a session id", () => {
    const P = "/_matrix/client/v1/rendezvous";
    expect(logUrl(`${P}/${id}?since=x`)).toBe(`${P}/<id>`);
    for (const p of [`${P}//${id}`, `${P};${id}`, `${P}/;${id}`, `${P}/${id};v=1`, `${P}%2F${id}`, `${P}%2f${id}`, `${P}%252F${id}`, `${P}/a/${id}`,
      `/_synapse/client/rendezvous/${id}`, `/${id}`, `/x%2${id}`, `${P}/${id.slice(0, 11)}%${id.slice(11)}`]) {
      expect([p, logUrl(p)]).toEqual([p, expect.not.stringContaining(id.slice(0, 11))]);
    }
    expect(logUrl(P)).toBe(P);
    expect(logUrl(`${P}/`)).toBe(`${P}/`);
    expect(logUrl("/_matrix/client/unstable/io.element.msc4388/rendezvous")).toBe("/_matrix/client/unstable/io.element.msc4388/rendezvous");
    expect(logUrl("/health")).toBe("/health");
  });
});
