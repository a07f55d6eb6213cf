// The OAuth client (main/login/oauth/, and its OAuthPort adapter) against a listening development homeserver:
// discovery (with the unstable fallback), DCR, device authorization, RFC 8628 polling (tokens, slow_down,
// denied, expired, MAS's 403s, abort), PKCE, refresh and revocation.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { startDevhome } from "../../server/devhome/index.js";
import type { RunningDevhome } from "../../server/devhome/index.js";
import * as oauth from "../../main/login/oauth/client.js";
import { DEVICE_CODE_GRANT, matrixScopes, supportsDeviceGrant } from "../../contract/oauth.js";
import { pollDeviceToken } from "../../main/login/oauth/poll.js";
import type { AuthMetadata, DeviceAuthorization } from "../../main/login/flows/ports.js";
import { createOAuthPort } from "../../main/login/oauth/port.js";
import { OAuthError as PortError } from "../../main/login/flows/ports.js";
import { MiniBrowser } from "./mini-browser.js";

const CLIENT = { client_name: "qr-login test", client_uri: "https://example.org/", application_type: "native" as const };
const DEVICE_GRANT = DEVICE_CODE_GRANT;

async function approve(grant: DeviceAuthorization, password: string, decision: "confirm" | "abort" = "confirm"): Promise<void> {
  const browser = new MiniBrowser();
  const entry = await browser.go(grant.verification_uri_complete ?? grant.verification_uri);
  const consent = await browser.submit(entry, grant.verification_uri_complete ? {} : { user_code: grant.user_code });
  const next = await browser.submit(consent, {}, { button: decision });
  if (decision === "confirm") {
    const done = await browser.submit(next, { username: "alice", password }, { withField: "password" });
    expect(done.html).toContain("Device approved");
  }
}

async function deviceClient(md: AuthMetadata): Promise<string> {
  return (await oauth.registerClient(md, { ...CLIENT, grant_types: [DEVICE_GRANT, "refresh_token"] })).client_id;
}

describe("main/login/oauth against devhome", () => {
  let dh: RunningDevhome;
  let md: AuthMetadata;
  beforeAll(async () => {
    dh = await startDevhome({ port: 0, seed: true, deviceInterval: 1 });
    md = await oauth.discoverAuthMetadata(dh.baseUrl);
  });
  afterAll(async () => {
    await dh?.close();
  });

  test("discovery: stable path; unstable fallback on 404/M_UNRECOGNIZED; typed error when neither exists", async () => {
    expect(md.issuer).toBe(dh.baseUrl);
    expect(supportsDeviceGrant(md)).toBe(true);
    const seen: string[] = [];
    const stableMissing: typeof fetch = async (input, init) => {
      const url = String(input);
      seen.push(new URL(url).pathname);
      if (url.includes("/v1/auth_metadata")) return new Response(JSON.stringify({ errcode: "M_UNRECOGNIZED", error: "no" }), { status: 404 });
      return fetch(input, init);
    };
    expect(await oauth.discoverAuthMetadata(dh.baseUrl.replace(/\/$/, ""), { fetch: stableMissing })).toEqual(md);
    expect(seen).toEqual(["/_matrix/client/v1/auth_metadata", "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata"]);

    const nothing: typeof fetch = async () => new Response("{}", { status: 404 });
    await expect(oauth.discoverAuthMetadata(dh.baseUrl, { fetch: nothing })).rejects.toMatchObject({ reason: "metadata_unavailable" });
    const invalid: typeof fetch = async () => new Response(JSON.stringify({ ...md, response_modes_supported: ["query"] }), { status: 200 });
    await expect(oauth.discoverAuthMetadata(dh.baseUrl, { fetch: invalid })).rejects.toMatchObject({ reason: "metadata_invalid" });
    await expect(oauth.discoverAuthMetadata("http://127.0.0.1:9/")).rejects.toMatchObject({ reason: "network" });
  });

  test("registration: unadvertised grants are refused locally; server errors are typed", async () => {
    await expect(oauth.registerClient(md, { ...CLIENT, grant_types: ["implicit"] })).rejects.toMatchObject({ reason: "registration_unsupported" });
    await expect(oauth.registerClient(md, { ...CLIENT, grant_types: ["authorization_code"], redirect_uris: ["not a url"] }))
      .rejects.toMatchObject({ reason: "registration_failed", details: { status: 400, error: "invalid_redirect_uri" } });
  });

  test("device grant: pending, then tokens once the user approves; the device token verifies", async () => {
    const clientId = await deviceClient(md);
    const deviceId = oauth.generateDeviceId();
    expect(deviceId).toMatch(/^[A-Z]{10}$/);
    const grant = await oauth.requestDeviceAuthorization(md, clientId, matrixScopes(deviceId));
    expect(grant.interval).toBe(1);
    const pendings: boolean[] = [];
    const polled = pollDeviceToken(md, clientId, grant, { onPending: (p) => pendings.push(p.slowDown) });
    await new Promise((r) => setTimeout(r, 1500));
    await approve(grant, dh.demo!.password);
    const outcome = await polled;
    expect(outcome.kind).toBe("tokens");
    if (outcome.kind !== "tokens") return;
    expect(pendings.length).toBeGreaterThanOrEqual(1);
    expect(pendings).not.toContain(true); // a client that keeps the interval never sees slow_down
    expect(outcome.tokens.scope).toBe(matrixScopes(deviceId).join(" "));
    expect(await dh.auth.verifyAccessToken(outcome.tokens.access_token)).toEqual(expect.objectContaining({ userId: "@alice:localhost", deviceId }));

    const refreshed = await oauth.refreshAccessToken(md, clientId, outcome.tokens.refresh_token!);
    expect(await dh.auth.verifyAccessToken(refreshed.access_token)).toEqual(expect.objectContaining({ deviceId }));
    await oauth.revokeToken(md, clientId, refreshed.access_token, "access_token");
    expect(await dh.auth.verifyAccessToken(refreshed.access_token)).toBeNull();
  });

  test("slow_down adds 5 s to the interval", async () => {
    const clientId = await deviceClient(md);
    const grant = await oauth.requestDeviceAuthorization(md, clientId, matrixScopes(oauth.generateDeviceId()));
    const waits: number[] = [];
    const controller = new AbortController();
    // A clock-less sleep makes every poll "too fast": the server says slow_down and the client must grow its interval.
    const outcome = pollDeviceToken(md, clientId, grant, {
      signal: controller.signal,
      sleep: async (ms) => {
        waits.push(ms);
        if (waits.length >= 3) controller.abort();
      },
    });
    await expect(outcome).rejects.toMatchObject({ reason: "aborted" });
    expect(waits).toEqual([1000, 6000, 11000]);
  });

  test("denied → {kind: denied}; abort → OAuthError aborted", async () => {
    const clientId = await deviceClient(md);
    const grant = await oauth.requestDeviceAuthorization(md, clientId, matrixScopes(oauth.generateDeviceId(), "unstable"));
    await approve(grant, dh.demo!.password, "abort");
    expect(await pollDeviceToken(md, clientId, grant)).toEqual(expect.objectContaining({ kind: "denied" }));

    const g2 = await oauth.requestDeviceAuthorization(md, clientId, matrixScopes(oauth.generateDeviceId()));
    const controller = new AbortController();
    const p = pollDeviceToken(md, clientId, g2, { signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    await expect(p).rejects.toMatchObject({ reason: "aborted" });
  });

  test("mixed scopes are refused by the server: typed device_authorization_failed", async () => {
    const clientId = await deviceClient(md);
    const scopes = ["urn:matrix:client:api:*", "urn:matrix:org.matrix.msc2967.client:device:ABCDEFGHIJ"];
    await expect(oauth.requestDeviceAuthorization(md, clientId, scopes))
      .rejects.toMatchObject({ reason: "device_authorization_failed", details: { status: 400, error: "invalid_scope" } });
  });

  test("authorization code + PKCE helpers: RFC 7636 vector, URL, response parsing, exchange", async () => {
    expect(oauth.pkceChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")).toBe("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    const redirectUri = "http://127.0.0.1:9/cb";
    const { client_id: clientId } = await oauth.registerClient(md, { ...CLIENT, redirect_uris: [redirectUri] });
    const pkce = oauth.createPkce();
    expect(pkce.verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const state = oauth.randomState();
    const deviceId = oauth.generateDeviceId();
    const url = oauth.buildAuthorizationUrl(md, { clientId, redirectUri, scope: matrixScopes(deviceId), state, codeChallenge: pkce.challenge, responseMode: "fragment" });
    const browser = new MiniBrowser();
    const loginPage = await browser.go(url, {}, dh.baseUrl);
    const consent = await browser.submit(loginPage, { username: "alice", password: dh.demo!.password }, { withField: "password" });
    const back = await browser.submit(consent, {}, { button: "approve", stayOn: dh.baseUrl });
    expect(back.url).toContain("#");
    expect(() => oauth.parseAuthorizationResponse(back.url, "other-state", md)).toThrow(expect.objectContaining({ reason: "state_mismatch" }));
    const code = oauth.parseAuthorizationResponse(back.url, state, md);
    const tokens = await oauth.exchangeAuthorizationCode(md, { clientId, code, redirectUri, codeVerifier: pkce.verifier });
    expect(await dh.auth.verifyAccessToken(tokens.access_token)).toEqual(expect.objectContaining({ deviceId }));
    await expect(oauth.exchangeAuthorizationCode(md, { clientId, code, redirectUri, codeVerifier: pkce.verifier }))
      .rejects.toMatchObject({ reason: "token_request_failed", details: { error: "invalid_grant" } });
    expect(() => oauth.parseAuthorizationResponse(`${redirectUri}?error=access_denied&state=${state}`, state))
      .toThrow(expect.objectContaining({ reason: "authorization_failed", details: { error: "access_denied" } }));
  });

  test("OAuthPort adapter: full device grant, typed port errors", async () => {
    const port = createOAuthPort({ clientMetadata: CLIENT });
    const metadata = await port.discoverAuthMetadata(dh.baseUrl);
    const clientId = await port.registerClient(metadata);
    const deviceId = port.generateDeviceId();
    const authorization = await port.requestDeviceAuthorization({ metadata, clientId, deviceId, scopes: "unstable" });
    const polled = port.pollToken({ metadata, clientId, authorization });
    await approve(authorization, dh.demo!.password);
    const result = await polled;
    expect(result.kind).toBe("tokens");
    if (result.kind !== "tokens") return;
    expect(await dh.auth.verifyAccessToken(result.tokens.access_token)).toEqual(expect.objectContaining({ deviceId }));
    await port.revokeTokens!({ metadata, clientId, tokens: result.tokens });
    expect(await dh.auth.verifyAccessToken(result.tokens.access_token)).toBeNull();
    const err = await port.discoverAuthMetadata("http://127.0.0.1:9/").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PortError);
    expect(err).toMatchObject({ kind: "request_failed" });
  });
});

describe("main/login/oauth against devhome --mas-quirks", () => {
  let dh: RunningDevhome;
  let md: AuthMetadata;
  beforeAll(async () => {
    dh = await startDevhome({ port: 0, seed: true, masQuirks: true, deviceInterval: 1, ttl: { deviceCode: 3 } });
    md = await oauth.discoverAuthMetadata(dh.baseUrl);
  });
  afterAll(async () => {
    await dh?.close();
  });

  test("403 authorization_pending is pending; 403 access_denied is denied; 403 expired_token is expired", async () => {
    const clientId = await deviceClient(md);
    const g1 = await oauth.requestDeviceAuthorization(md, clientId, matrixScopes(oauth.generateDeviceId()));
    expect(g1.verification_uri_complete).toBeUndefined();
    let pending = 0;
    const p1 = pollDeviceToken(md, clientId, g1, { onPending: () => pending++ });
    await new Promise((r) => setTimeout(r, 1200));
    await approve(g1, dh.demo!.password, "abort");
    expect(await p1).toEqual(expect.objectContaining({ kind: "denied" }));
    expect(pending).toBeGreaterThanOrEqual(1);

    const g2 = await oauth.requestDeviceAuthorization(md, clientId, matrixScopes(oauth.generateDeviceId()));
    // The server's expiry, not the client's clock: pretend the client thinks it has all the time in the world.
    expect(await pollDeviceToken(md, clientId, { ...g2, expires_in: 600 })).toEqual({ kind: "expired" });
  });
});
