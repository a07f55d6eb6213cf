// The OAuth client (main/login/oauth/) and homeserver discovery (main/login/matrix/homeserver.ts) against
// a server that misbehaves or lies: polling that cannot spin (interval 0, an interval past setTimeout's
// range, 5xx, lost connections), plain http and redirects refused, no credential sent on through a
// redirect, and every refusal the one OAuthError the flows read. Fakes answer here, on a virtual clock, except where real sockets are the point (a 307 that
// fetch would follow by itself).
import { afterEach, describe, expect, test } from "@jest/globals";
import http from "node:http";
import type { AddressInfo } from "node:net";
import * as oauth from "../../main/login/oauth/client.js";
import { DEVICE_CODE_GRANT } from "../../contract/oauth.js";
import { MAX_TIMER_MS, pollDeviceToken } from "../../main/login/oauth/poll.js";
import { OAuthError, type AuthMetadata, type DeviceAuthorization } from "../../main/login/flows/ports.js";
import { createHomeserverPort } from "../../main/login/matrix/homeserver.js";

const MD: AuthMetadata = {
  issuer: "https://auth.example.org/",
  authorization_endpoint: "https://auth.example.org/authorize",
  token_endpoint: "https://auth.example.org/token",
  revocation_endpoint: "https://auth.example.org/revoke",
  registration_endpoint: "https://auth.example.org/register",
  device_authorization_endpoint: "https://auth.example.org/device",
  response_types_supported: ["code"],
  response_modes_supported: ["query", "fragment"],
  grant_types_supported: ["authorization_code", "refresh_token", DEVICE_CODE_GRANT],
  code_challenge_methods_supported: ["S256"],
};

function grant(interval: number | undefined, expiresIn = 60): DeviceAuthorization {
  return { device_code: "dc", user_code: "UC", verification_uri: "https://auth.example.org/link", expires_in: expiresIn, interval: interval as number };
}

const oauthError = (error: string, status = 400): Response => Response.json({ error }, { status });

/** Polls on a virtual clock: every sleep advances it; each token request is timed. */
async function virtualPoll(g: DeviceAuthorization, answer: (n: number) => Response | Error) {
  let clock = 1_000_000;
  const requests: number[] = [];
  const waits: number[] = [];
  const fetchFake: typeof fetch = async () => {
    requests.push(clock);
    const a = answer(requests.length);
    if (a instanceof Error) throw a;
    return a;
  };
  const start = clock;
  const outcome = await pollDeviceToken(MD, "client", g, {
    fetch: fetchFake,
    now: () => clock,
    sleep: async (ms) => {
      // Thrown from the sleep, where no retry logic can swallow it: a spinning loop ends here.
      if (requests.length > 500) throw new Error(`runaway polling: ${requests.length} requests`);
      waits.push(ms);
      clock += ms;
    },
  });
  return { outcome, requests: requests.map((t) => t - start), waits, deadline: g.expires_in * 1000 };
}

describe("one OAuthError from the OAuth client to the flows", () => {
  test("the client's failures are the port's OAuthError: the reason, the kind a flow reports, the server's error", async () => {
    const noMetadata: typeof fetch = async () => Response.json({ errcode: "M_UNRECOGNIZED" }, { status: 404 });
    const discovery = await oauth.discoverAuthMetadata("https://hs.example.org/", { fetch: noMetadata }).catch((e: unknown) => e);
    expect(discovery).toBeInstanceOf(OAuthError);
    expect(discovery).toMatchObject({ reason: "metadata_unavailable", kind: "oauth_unavailable" });

    const refused: typeof fetch = async () => Response.json({ error: "invalid_client_metadata", error_description: "no" }, { status: 400 });
    const registration = await oauth.registerClient(MD, { client_name: "x" }, { fetch: refused }).catch((e: unknown) => e);
    expect(registration).toBeInstanceOf(OAuthError);
    expect(registration).toMatchObject({ reason: "registration_failed", kind: "registration_failed", details: { status: 400, error: "invalid_client_metadata" } });
  });
});

describe("device-code polling cannot spin (RFC 8628 §3.5)", () => {
  test("interval 0: at most one request a second, until the code expires", async () => {
    const r = await virtualPoll(grant(0, 10), () => oauthError("authorization_pending"));
    expect(r.outcome).toEqual({ kind: "expired" });
    expect(Math.min(...r.waits)).toBeGreaterThanOrEqual(1000);
    expect(r.requests.length).toBeLessThanOrEqual(10);
    expect(r.requests.every((t) => t < r.deadline)).toBe(true);
  });

  test("an interval past setTimeout's range: no wait longer than a timer holds or than the code lives", async () => {
    const r = await virtualPoll(grant(2 ** 40, 600), () => oauthError("authorization_pending"));
    expect(r.outcome).toEqual({ kind: "expired" });
    expect(r.requests).toEqual([0]);
    expect(Math.max(...r.waits)).toBeLessThanOrEqual(Math.min(MAX_TIMER_MS, 600_000));
  });

  test.each([
    ["5xx", () => new Response("overloaded", { status: 503 })],
    ["429", () => new Response("", { status: 429 })],
    ["network failure", () => new TypeError("fetch failed")],
  ])("%s: the waits double from the interval, up to a minute, and stop at the expiry", async (_what, fail) => {
    const r = await virtualPoll(grant(1, 300), fail);
    expect(r.outcome).toEqual({ kind: "expired" });
    expect(r.waits.slice(0, 7)).toEqual([2000, 4000, 8000, 16000, 32000, 60000, 60000]);
    expect(r.requests.length).toBeLessThanOrEqual(10);
    expect(r.requests.every((t) => t < r.deadline)).toBe(true);
  });

  test("after a failure run, a pending answer brings the interval back; slow_down adds 5 s", async () => {
    const script = [new Response("", { status: 502 }), new Response("", { status: 502 }), oauthError("authorization_pending", 403), oauthError("slow_down"), oauthError("authorization_pending")];
    const r = await virtualPoll(grant(2, 600), (n) => script[n - 1] ?? Response.json({ access_token: "at", token_type: "Bearer" }));
    expect(r.outcome).toMatchObject({ kind: "tokens", tokens: { access_token: "at" } });
    expect(r.waits).toEqual([4000, 8000, 2000, 7000, 7000]);
  });

  test("real timers, interval 0 and every answer a 503: a handful of requests in 2 s, not thousands", async () => {
    let requests = 0;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 2000);
    const p = pollDeviceToken(MD, "client", grant(0, 60), {
      signal: controller.signal,
      fetch: async () => {
        requests++;
        return new Response("", { status: 503 });
      },
    });
    await expect(p).rejects.toMatchObject({ reason: "aborted" });
    clearTimeout(timer);
    expect(requests).toBeGreaterThanOrEqual(1);
    expect(requests).toBeLessThanOrEqual(3);
  });
});

describe("plain http is refused except to this computer", () => {
  test("discovery on a plain-http homeserver sends nothing", async () => {
    let calls = 0;
    const f: typeof fetch = async () => {
      calls++;
      return Response.json(MD);
    };
    await expect(oauth.discoverAuthMetadata("http://hs.example.org/", { fetch: f })).rejects.toMatchObject({ reason: "insecure_url" });
    expect(calls).toBe(0);
    await expect(oauth.discoverAuthMetadata("http://127.0.0.1:8008/", { fetch: f })).resolves.toMatchObject({ issuer: MD.issuer });
  });

  test.each([
    ["token_endpoint", "http://auth.example.org/token"],
    ["registration_endpoint", "http://auth.example.org/register"],
    ["device_authorization_endpoint", "http://auth.example.org/device"],
    ["authorization_endpoint", "smb://files.example.org/share/x.exe"],
    ["revocation_endpoint", "file:///etc/passwd"],
    ["account_management_uri", "javascript:alert(1)"],
  ])("metadata whose %s is %s is invalid", async (key, value) => {
    const f: typeof fetch = async () => Response.json({ ...MD, [key]: value });
    await expect(oauth.discoverAuthMetadata("https://hs.example.org/", { fetch: f })).rejects.toMatchObject({ reason: "metadata_invalid", message: expect.stringContaining(key) });
  });

  test("discovery follows no redirect", async () => {
    const seen: string[] = [];
    const f: typeof fetch = async (input, init) => {
      seen.push(String(input));
      expect(init?.redirect).toBe("manual");
      return new Response(null, { status: 302, headers: { location: "http://evil.example/md" } });
    };
    await expect(oauth.discoverAuthMetadata("https://hs.example.org/", { fetch: f })).rejects.toMatchObject({ reason: "metadata_unavailable" });
    expect(seen.every((u) => u.startsWith("https://hs.example.org/"))).toBe(true);
  });

  test("a peer's or a .well-known's plain-http homeserver is refused; redirects only to https", async () => {
    const port = createHomeserverPort();
    await expect(port.resolve({ baseUrl: "http://hs.example.org/" })).rejects.toMatchObject({ kind: "unresolved", message: expect.stringContaining("not https") });
    await expect(port.resolve({ baseUrl: "http://localhost:8008/" })).resolves.toEqual({ baseUrl: "http://localhost:8008/" });

    const json = (body: unknown, status = 200) => Response.json(body, { status });
    const wellKnown = (routes: Record<string, () => Response>) => createHomeserverPort({
      fetch: async (input) => {
        const hit = routes[input];
        if (!hit) throw new TypeError(`fetch failed: ${input}`);
        return hit();
      },
    });
    const plain = wellKnown({ "https://example.org/.well-known/matrix/client": () => json({ "m.homeserver": { base_url: "http://matrix.example.org" } }) });
    await expect(plain.resolve({ serverName: "example.org" })).rejects.toMatchObject({ message: expect.stringContaining("not https") });

    const downgrade = wellKnown({
      "https://example.org/.well-known/matrix/client": () => new Response(null, { status: 301, headers: { location: "http://example.org/.well-known/matrix/client" } }),
      "http://example.org/.well-known/matrix/client": () => json({ "m.homeserver": { base_url: "https://matrix.example.org" } }),
      "https://matrix.example.org/_matrix/client/versions": () => json({ versions: ["v1.15"] }),
    });
    await expect(downgrade.resolve({ serverName: "example.org" })).rejects.toMatchObject({ kind: "unresolved" });

    const moved = wellKnown({
      "https://example.org/.well-known/matrix/client": () => new Response(null, { status: 301, headers: { location: "https://www.example.org/.well-known/matrix/client" } }),
      "https://www.example.org/.well-known/matrix/client": () => json({ "m.homeserver": { base_url: "https://matrix.example.org" } }),
      "https://matrix.example.org/_matrix/client/versions": () => json({ versions: ["v1.15"] }),
    });
    await expect(moved.resolve({ serverName: "example.org" })).resolves.toEqual({ baseUrl: "https://matrix.example.org/", serverName: "example.org" });
  });
});

describe("no credential follows a redirect", () => {
  const servers: http.Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });
  async function listen(handler: http.RequestListener): Promise<string> {
    const server = http.createServer(handler);
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  test("a 307 from the token endpoint ends the request: the refresh token never reaches the other origin", async () => {
    const received: string[] = [];
    const elsewhere = await listen((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        received.push(body);
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ access_token: "stolen", token_type: "Bearer" }));
      });
    });
    const origin = await listen((req, res) => {
      req.resume();
      res.writeHead(307, { location: `${elsewhere}/token` }).end();
    });
    const md = { ...MD, token_endpoint: `${origin}/token`, revocation_endpoint: `${origin}/revoke` };
    await expect(oauth.refreshAccessToken(md, "client", "the-refresh-token")).rejects.toMatchObject({ reason: "token_request_failed", details: { status: 307 } });
    await expect(oauth.revokeToken(md, "client", "the-refresh-token", "refresh_token")).rejects.toMatchObject({ reason: "token_request_failed" });
    await expect(pollDeviceToken(md, "client", grant(1, 5))).rejects.toMatchObject({ reason: "token_request_failed", details: { status: 307 } });
    expect(received).toEqual([]);
  });
});
