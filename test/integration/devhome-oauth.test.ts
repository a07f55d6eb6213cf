// The development homeserver's OAuth 2.0 side against a listening server, over plain HTTP:
// discovery, DCR, the device grant through the real HTML pages (cookie jar), its failure modes,
// MAS quirks, scope policy, authorization code + PKCE, refresh and revocation.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { startDevhome } from "../../server/devhome/index.js";
import type { RunningDevhome } from "../../server/devhome/index.js";
import { authMetadataProblems } from "../../main/login/oauth/client.js";
import { MiniBrowser } from "./mini-browser.js";
import type { Page } from "./mini-browser.js";

const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Json = Record<string, unknown>;

async function postForm(url: string, form: Record<string, string>): Promise<{ status: number; json: Json }> {
  const response = await fetch(url, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form).toString() });
  const text = await response.text();
  return { status: response.status, json: (text ? JSON.parse(text) : {}) as Json };
}

async function metadataOf(dh: RunningDevhome): Promise<Json> {
  return (await (await fetch(`${dh.baseUrl}_matrix/client/v1/auth_metadata`)).json()) as Json;
}

async function registerDeviceClient(md: Json, name = "QR test device"): Promise<string> {
  const response = await fetch(String(md.registration_endpoint), {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({
      client_name: name, client_uri: "https://example.org/", application_type: "native", token_endpoint_auth_method: "none",
      grant_types: [DEVICE_GRANT, "refresh_token"], response_types: [], redirect_uris: [],
    }),
  });
  expect(response.status).toBe(201);
  return String(((await response.json()) as Json).client_id);
}

async function cs(dh: RunningDevhome, path: string, token?: string): Promise<{ status: number; json: Json }> {
  const response = await fetch(`${dh.baseUrl}_matrix/client/${path}`, token === undefined ? {} : { headers: { Authorization: `Bearer ${token}` } });
  return { status: response.status, json: (await response.json()) as Json };
}

function scopeFor(deviceId: string, prefix = "urn:matrix:client:"): string {
  return `${prefix}api:* ${prefix}device:${deviceId}`;
}

async function startGrant(md: Json, clientId: string, deviceId: string) {
  const r = await postForm(String(md.device_authorization_endpoint), { client_id: clientId, scope: scopeFor(deviceId) });
  expect(r.status).toBe(200);
  return r.json as { device_code: string; user_code: string; verification_uri: string; verification_uri_complete?: string; expires_in: number; interval: number };
}

function poll(md: Json, clientId: string, deviceCode: string) {
  return postForm(String(md.token_endpoint), { grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: clientId });
}

/** Walks the pages up to the device consent page (entry page pre-filled by verification_uri_complete). */
async function openConsent(browser: MiniBrowser, verificationUriComplete: string): Promise<Page> {
  const entry = await browser.go(verificationUriComplete);
  expect(entry.status).toBe(200);
  return browser.submit(entry);
}

async function login(browser: MiniBrowser, page: Page, username: string, password: string): Promise<Page> {
  expect(page.html).toContain('name="password"');
  return browser.submit(page, { username, password }, { withField: "password" });
}

describe("devhome OAuth 2.0 (device grant, DCR, PKCE)", () => {
  let dh: RunningDevhome;
  let md: Json;
  let password: string;

  beforeAll(async () => {
    dh = await startDevhome({ port: 0, seed: true, deviceInterval: 1 });
    md = await metadataOf(dh);
    password = dh.demo!.password;
  });
  afterAll(async () => {
    await dh?.close();
  });

  test("auth metadata: stable and unstable paths, passes matrix-js-sdk's checks, advertises the device grant", async () => {
    expect(md.issuer).toBe(dh.baseUrl);
    expect(dh.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(authMetadataProblems(md)).toEqual([]);
    expect(md.grant_types_supported).toEqual(expect.arrayContaining(["authorization_code", "refresh_token", DEVICE_GRANT]));
    expect(md.response_modes_supported).toEqual(expect.arrayContaining(["query", "fragment"]));
    expect(md.code_challenge_methods_supported).toEqual(["S256"]);
    expect(String(md.device_authorization_endpoint)).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/oauth2\//);
    const unstable = await (await fetch(`${dh.baseUrl}_matrix/client/unstable/org.matrix.msc2965/auth_metadata`)).json();
    expect(unstable).toEqual(md);
  });

  test("device grant end to end through the HTML pages; device code cannot be reused", async () => {
    const clientId = await registerDeviceClient(md, "Laptop <b>app</b>");
    const grant = await startGrant(md, clientId, "ABCDEFGHIJ");
    expect(grant.interval).toBe(1);
    expect(grant.verification_uri_complete).toBe(`${grant.verification_uri}?user_code=${grant.user_code}`);

    const pending = await poll(md, clientId, grant.device_code);
    expect(pending).toEqual({ status: 400, json: expect.objectContaining({ error: "authorization_pending" }) });
    // The existing device checks that the requested device id is not in use yet (flow step 16).
    const seed = await dh.auth.issueDeviceToken({ userId: "@alice:localhost", deviceId: "EXISTINGONE" });
    expect((await cs(dh, "v3/devices/ABCDEFGHIJ", seed.access_token)).status).toBe(404);

    const browser = new MiniBrowser();
    const entry = await browser.go(grant.verification_uri_complete!);
    expect(entry.html).toContain(`value="${grant.user_code}"`); // pre-filled
    expect(entry.html).not.toContain("<script");
    const consent = await browser.submit(entry);
    expect(consent.status).toBe(200);
    expect(consent.html).toContain("another device");
    expect(consent.html).toContain("Laptop &#60;b&#62;app&#60;/b&#62;"); // client name, escaped
    expect(consent.html).toContain("ABCDEFGHIJ");
    expect(consent.html).toContain(grant.user_code);
    expect(consent.html).toMatch(/>Approve</);
    expect(consent.html).toMatch(/>Deny</);

    const loginPage = await browser.submit(consent, {}, { button: "confirm" });
    expect(loginPage.url).toMatch(/\/oauth2\/interaction\//);
    const wrong = await login(browser, loginPage, "alice", "not-the-password");
    expect(wrong.status).toBe(401);
    expect(wrong.html).toContain('role="alert"');
    const done = await login(browser, wrong, "alice", password);
    expect(done.status).toBe(200);
    expect(done.html).toContain("Device approved");

    const tokens = await poll(md, clientId, grant.device_code);
    expect(tokens.status).toBe(200);
    expect(tokens.json).toEqual(expect.objectContaining({ token_type: "Bearer", scope: scopeFor("ABCDEFGHIJ") }));
    expect(typeof tokens.json.access_token).toBe("string");
    expect(typeof tokens.json.refresh_token).toBe("string");
    expect(await dh.auth.verifyAccessToken(String(tokens.json.access_token))).toEqual({
      userId: "@alice:localhost", deviceId: "ABCDEFGHIJ", scopes: scopeFor("ABCDEFGHIJ").split(" "),
    });

    // The device exists as soon as its token does; whoami names user and device.
    const at = String(tokens.json.access_token);
    expect(await cs(dh, "v3/account/whoami", at)).toEqual({ status: 200, json: expect.objectContaining({ user_id: "@alice:localhost", device_id: "ABCDEFGHIJ" }) });
    const device = await cs(dh, "v3/devices/ABCDEFGHIJ", seed.access_token);
    expect(device).toEqual({ status: 200, json: expect.objectContaining({ device_id: "ABCDEFGHIJ", display_name: "Laptop <b>app</b>" }) });
    const list = await cs(dh, "v3/devices", at);
    expect((list.json.devices as Json[]).map((d) => d.device_id)).toEqual(expect.arrayContaining(["ABCDEFGHIJ", "EXISTINGONE"]));

    const reuse = await poll(md, clientId, grant.device_code);
    expect(reuse).toEqual({ status: 400, json: expect.objectContaining({ error: "invalid_grant" }) });
    // The user code cannot be approved twice either (the replay above also revoked the grant and its code).
    const again = await openConsent(new MiniBrowser(), grant.verification_uri_complete!);
    expect(again.html).toContain('role="alert"');
    expect(again.html).not.toContain(">Approve<");
    expect(await dh.auth.verifyAccessToken(String(tokens.json.access_token))).toBeNull();
  });

  test("signed-in browser: the consent page names the account; Deny → access_denied", async () => {
    const clientId = await registerDeviceClient(md);
    const browser = new MiniBrowser();
    // First grant signs the browser in.
    const g1 = await startGrant(md, clientId, "FIRSTDEVICE1");
    const l = await browser.submit(await openConsent(browser, g1.verification_uri_complete!), {}, { button: "confirm" });
    await login(browser, l, "@alice:localhost", password);
    expect((await poll(md, clientId, g1.device_code)).status).toBe(200);

    const g2 = await startGrant(md, clientId, "SECONDDEVICE");
    const consent = await openConsent(browser, g2.verification_uri_complete!);
    expect(consent.html).toContain("@alice:localhost");
    const denied = await browser.submit(consent, {}, { button: "abort" });
    expect(denied.html).toContain("denied");
    expect(await poll(md, clientId, g2.device_code)).toEqual({ status: 400, json: expect.objectContaining({ error: "access_denied" }) });
  });

  test("cancel on the login page → access_denied; forms without the CSRF token are refused", async () => {
    const clientId = await registerDeviceClient(md);
    const grant = await startGrant(md, clientId, "CANCELLEDDEV");
    const browser = new MiniBrowser();
    const loginPage = await browser.submit(await openConsent(browser, grant.verification_uri_complete!), {}, { button: "confirm" });
    const forms = MiniBrowser.forms(loginPage);
    const loginForm = forms.find((f) => "password" in f.fields)!;
    const forged = await browser.go(loginForm.action, { form: { username: "alice", password } });
    expect(forged.status).toBe(403);
    const cancel = forms.find((f) => !("password" in f.fields))!;
    await browser.go(cancel.action, { form: cancel.fields });
    expect(await poll(md, clientId, grant.device_code)).toEqual({ status: 400, json: expect.objectContaining({ error: "access_denied" }) });
  });

  test("polling faster than the interval → slow_down, and the interval grows by 5 s", async () => {
    const clientId = await registerDeviceClient(md);
    const grant = await startGrant(md, clientId, "IMPATIENTXX");
    expect((await poll(md, clientId, grant.device_code)).json.error).toBe("authorization_pending");
    expect((await poll(md, clientId, grant.device_code)).json.error).toBe("slow_down");
    await sleep(1100); // the old interval (1 s) is no longer enough: it is 6 s now
    expect((await poll(md, clientId, grant.device_code)).json.error).toBe("slow_down");
  });

  test("scope policy: mixed stable/unstable, bad device ids, device without api, two devices → invalid_scope", async () => {
    const clientId = await registerDeviceClient(md);
    const bad = [
      "urn:matrix:client:api:* urn:matrix:org.matrix.msc2967.client:device:ABCDEFGHIJ",
      "urn:matrix:org.matrix.msc2967.client:api:* urn:matrix:client:device:ABCDEFGHIJ",
      "urn:matrix:client:api:* urn:matrix:client:device:SHORT",
      "urn:matrix:client:device:ABCDEFGHIJ",
      "urn:matrix:client:api:* urn:matrix:client:device:ABCDEFGHIJ urn:matrix:client:device:KLMNOPQRST",
      "urn:matrix:client:api:* urn:matrix:client:nonsense",
    ];
    for (const scope of bad) {
      const r = await postForm(String(md.device_authorization_endpoint), { client_id: clientId, scope });
      expect([scope, r.status, r.json.error]).toEqual([scope, 400, "invalid_scope"]);
    }
    // Unstable alone, and Element X-style base64 device ids, are fine.
    for (const scope of [scopeFor("ABCDEFGHIJ", "urn:matrix:org.matrix.msc2967.client:"), scopeFor("q+8Zr/1XkYf0Kx9sT3mB7wQ2vE5nL4hJ6pA0dC1uG8i")]) {
      expect((await postForm(String(md.device_authorization_endpoint), { client_id: clientId, scope })).status).toBe(200);
    }
  });

  test("unstable scopes and an Element X device id end to end", async () => {
    const clientId = await registerDeviceClient(md);
    const deviceId = "q+8Zr/1XkYf0Kx9sT3mB7wQ2vE5nL4hJ6pA0dC1uG8i";
    const scope = scopeFor(deviceId, "urn:matrix:org.matrix.msc2967.client:");
    const r = await postForm(String(md.device_authorization_endpoint), { client_id: clientId, scope });
    const grant = r.json as { device_code: string; verification_uri_complete: string };
    const browser = new MiniBrowser();
    const consent = await openConsent(browser, grant.verification_uri_complete);
    expect(consent.html).toContain(deviceId.replace(/\//g, "/"));
    await login(browser, await browser.submit(consent, {}, { button: "confirm" }), "alice", password);
    const tokens = await poll(md, clientId, grant.device_code);
    expect(tokens.json.scope).toBe(scope);
    expect(await dh.auth.verifyAccessToken(String(tokens.json.access_token))).toEqual(expect.objectContaining({ deviceId }));
    // Percent-encoded in paths, as Element X sends it.
    const byId = await cs(dh, `v3/devices/${encodeURIComponent(deviceId)}`, String(tokens.json.access_token));
    expect(byId).toEqual({ status: 200, json: expect.objectContaining({ device_id: deviceId }) });
  });

  test("authorization code + PKCE: login, consent, code exchange; code reuse and a wrong verifier are rejected", async () => {
    const redirectUri = "http://127.0.0.1:9/callback";
    const reg = await fetch(String(md.registration_endpoint), {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        client_name: "Existing device", client_uri: "https://example.org/", application_type: "native", token_endpoint_auth_method: "none",
        grant_types: ["authorization_code", "refresh_token"], response_types: ["code"], redirect_uris: [redirectUri],
      }),
    });
    expect(reg.status).toBe(201);
    const clientId = String(((await reg.json()) as Json).client_id);
    const { createPkce, buildAuthorizationUrl, parseAuthorizationResponse, randomState } = await import("../../main/login/oauth/client.js");
    const pkce = createPkce();
    const state = randomState();
    const url = buildAuthorizationUrl(md as never, { clientId, redirectUri, scope: scopeFor("EXISTINGDEV"), state, codeChallenge: pkce.challenge });
    const browser = new MiniBrowser();
    const loginPage = await browser.go(url, {}, dh.baseUrl);
    const consent = await login(browser, loginPage, "alice", password);
    expect(consent.html).toContain("EXISTINGDEV");
    const back = await browser.submit(consent, {}, { button: "approve", stayOn: dh.baseUrl });
    expect(back.url.startsWith(redirectUri)).toBe(true);
    const code = parseAuthorizationResponse(back.url, state, md as never);

    const wrong = await postForm(String(md.token_endpoint), { grant_type: "authorization_code", code, redirect_uri: redirectUri, client_id: clientId, code_verifier: "x".repeat(43) });
    expect(wrong).toEqual({ status: 400, json: expect.objectContaining({ error: "invalid_grant" }) });
    // The failed attempt consumed nothing it should not have? RFC 6749 §4.1.2: a code is single-use; oidc-provider
    // only consumes on success, so the right verifier still works once.
    const ok = await postForm(String(md.token_endpoint), { grant_type: "authorization_code", code, redirect_uri: redirectUri, client_id: clientId, code_verifier: pkce.verifier });
    expect(ok.status).toBe(200);
    expect(await dh.auth.verifyAccessToken(String(ok.json.access_token))).toEqual(expect.objectContaining({ userId: "@alice:localhost", deviceId: "EXISTINGDEV" }));
    const reuse = await postForm(String(md.token_endpoint), { grant_type: "authorization_code", code, redirect_uri: redirectUri, client_id: clientId, code_verifier: pkce.verifier });
    expect(reuse).toEqual({ status: 400, json: expect.objectContaining({ error: "invalid_grant" }) });
    // Reusing a code revokes what it issued (RFC 6749 §4.1.2 SHOULD).
    expect(await dh.auth.verifyAccessToken(String(ok.json.access_token))).toBeNull();
  });

  test("refresh rotates tokens; revocation and device removal make tokens invalid; garbage tokens are rejected", async () => {
    const issued = await dh.auth.issueDeviceToken({ userId: "@alice:localhost", deviceId: "SEEDEDDEVICE" });
    expect(await dh.auth.verifyAccessToken(issued.access_token)).toEqual(expect.objectContaining({ deviceId: "SEEDEDDEVICE" }));
    const refreshed = await postForm(String(md.token_endpoint), { grant_type: "refresh_token", refresh_token: issued.refresh_token!, client_id: "qr-login-devhome-internal" });
    expect(refreshed.status).toBe(200);
    expect(refreshed.json.scope).toBe(scopeFor("SEEDEDDEVICE"));
    const at = String(refreshed.json.access_token);
    expect(await dh.auth.verifyAccessToken(at)).toEqual(expect.objectContaining({ userId: "@alice:localhost", deviceId: "SEEDEDDEVICE" }));

    // Another (public) client cannot revoke it: 200 as for an unknown token, and the token still works.
    const stranger = await registerDeviceClient(md, "Stranger");
    expect((await postForm(String(md.revocation_endpoint), { token: at, client_id: stranger })).status).toBe(200);
    expect(await dh.auth.verifyAccessToken(at)).not.toBeNull();
    const revoke = await postForm(String(md.revocation_endpoint), { token: at, token_type_hint: "access_token", client_id: "qr-login-devhome-internal" });
    expect(revoke.status).toBe(200);
    expect(await dh.auth.verifyAccessToken(at)).toBeNull();

    const other = await dh.auth.issueDeviceToken({ userId: "@alice:localhost", deviceId: "DOOMEDDEVICE" });
    await dh.auth.revokeDeviceTokens("@alice:localhost", "DOOMEDDEVICE");
    expect(await dh.auth.verifyAccessToken(other.access_token)).toBeNull();
    const r = await postForm(String(md.token_endpoint), { grant_type: "refresh_token", refresh_token: other.refresh_token!, client_id: "qr-login-devhome-internal" });
    expect(r.json.error).toBe("invalid_grant");

    for (const garbage of ["", "nope", "x".repeat(5000), issued.refresh_token!]) expect(await dh.auth.verifyAccessToken(garbage)).toBeNull();
    // Over HTTP: the spec's errcodes.
    expect(await cs(dh, "v3/account/whoami")).toEqual({ status: 401, json: expect.objectContaining({ errcode: "M_MISSING_TOKEN" }) });
    for (const bad of ["nope", at, other.access_token, issued.refresh_token!]) {
      expect(await cs(dh, "v3/account/whoami", bad)).toEqual({ status: 401, json: expect.objectContaining({ errcode: "M_UNKNOWN_TOKEN" }) });
    }
  });
});

describe("devhome account page: cross-signing reset approval", () => {
  let dh: RunningDevhome;
  beforeAll(async () => {
    dh = await startDevhome({ port: 0, seed: true });
  });
  afterAll(async () => {
    await dh?.close();
  });

  test("password required, CSRF-checked, then approved", async () => {
    const url = `${dh.baseUrl}account?action=org.matrix.cross_signing_reset`;
    const browser = new MiniBrowser();
    const pageOne = await browser.go(url);
    expect(pageOne.status).toBe(200);
    expect(pageOne.html).toContain("cross-signing keys");
    const forged = await new MiniBrowser().go(url, { form: { ...MiniBrowser.forms(pageOne)[0]!.fields, username: "alice", password: dh.demo!.password } });
    expect(forged.status).toBe(403);
    const wrong = await browser.submit(pageOne, { username: "alice", password: "wrong-password" });
    expect(wrong.status).toBe(401);
    const ok = await browser.submit(wrong, { username: "alice", password: dh.demo!.password });
    expect(ok.status).toBe(200);
    expect(ok.html).toContain("@alice:localhost may now replace");
  });
});

describe("devhome with --rendezvous-mode authenticated", () => {
  test("the rendezvous server on the same origin accepts only this homeserver's device tokens", async () => {
    const dh = await startDevhome({ port: 0, rendezvousMode: "authenticated" });
    try {
      const url = `${dh.baseUrl}_matrix/client/v1/rendezvous`;
      const { access_token } = await dh.auth.issueDeviceToken({ userId: "@bob:localhost", deviceId: "BOBSDEVICE1" });
      const discover = async (token?: string) => (await fetch(url, token ? { headers: { Authorization: `Bearer ${token}` } } : {})).json();
      expect(await discover()).toMatchObject({ create_available: false });
      expect(await discover("not-a-token")).toMatchObject({ create_available: false });
      expect(await discover(access_token)).toMatchObject({ create_available: true });
      const create = (token?: string) => fetch(url, {
        method: "POST", body: JSON.stringify({ data: "" }),
        headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      });
      const anonymous = await create();
      expect([anonymous.status, ((await anonymous.json()) as Json).errcode]).toEqual([401, "M_MISSING_TOKEN"]);
      const bad = await create("not-a-token");
      expect([bad.status, ((await bad.json()) as Json).errcode]).toEqual([401, "M_UNKNOWN_TOKEN"]);
      expect((await create(access_token)).status).toBe(200);
    } finally {
      await dh.close();
    }
  });
});

describe("devhome with a data directory", () => {
  test("accounts, clients, tokens and the signing key survive a restart", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "devhome-"));
    // Same port both times: the issuer (and the tokens' audience) contains it.
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const p = (probe.address() as { port: number }).port;
        probe.close(() => resolve(p));
      });
    });
    try {
      const first = await startDevhome({ port, dataDir: dir, seed: true });
      const md1 = await metadataOf(first);
      const clientId = await registerDeviceClient(md1);
      const issued = await first.auth.issueDeviceToken({ userId: "@alice:localhost", deviceId: "PERSISTENT1" });
      const jwks1 = await (await fetch(`${first.baseUrl}oauth2/jwks`)).json();
      const password = first.demo!.password;
      await first.close();

      const second = await startDevhome({ port, dataDir: dir });
      try {
        expect(await second.auth.verifyAccessToken(issued.access_token)).toEqual(expect.objectContaining({ deviceId: "PERSISTENT1" }));
        expect(await second.accounts.verify("alice", password)).toBe("@alice:localhost");
        expect(await (await fetch(`${second.baseUrl}oauth2/jwks`)).json()).toEqual(jwks1);
        const md2 = await metadataOf(second);
        expect((await postForm(String(md2.device_authorization_endpoint), { client_id: clientId, scope: scopeFor("PERSISTENT2") })).status).toBe(200);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("devhome OAuth 2.0: device code expiry", () => {
  let dh: RunningDevhome;
  beforeAll(async () => {
    dh = await startDevhome({ port: 0, deviceInterval: 1, ttl: { deviceCode: 1 } });
  });
  afterAll(async () => {
    await dh?.close();
  });

  test("an unapproved code expires → expired_token", async () => {
    const md = await metadataOf(dh);
    const clientId = await registerDeviceClient(md);
    const grant = await startGrant(md, clientId, "SLOWUSERDEV");
    expect(grant.expires_in).toBe(1);
    await sleep(1300);
    expect(await poll(md, clientId, grant.device_code)).toEqual({ status: 400, json: expect.objectContaining({ error: "expired_token" }) });
    const page = await openConsent(new MiniBrowser(), grant.verification_uri_complete!);
    expect(page.html).toContain("expired");
  });
});

describe("devhome OAuth 2.0 with --mas-quirks", () => {
  let dh: RunningDevhome;
  let md: Json;
  beforeAll(async () => {
    dh = await startDevhome({ port: 0, seed: true, masQuirks: true, deviceInterval: 1, ttl: { deviceCode: 2 } });
    md = await metadataOf(dh);
  });
  afterAll(async () => {
    await dh?.close();
  });

  test("403 authorization_pending, never slow_down, no verification_uri_complete; 403 access_denied", async () => {
    const clientId = await registerDeviceClient(md);
    const grant = await startGrant(md, clientId, "MASDEVICEID");
    expect(grant.verification_uri_complete).toBeUndefined();
    expect(grant.user_code).toMatch(/^[A-Z]{6}$/);
    for (let i = 0; i < 3; i++) expect(await poll(md, clientId, grant.device_code)).toEqual({ status: 403, json: expect.objectContaining({ error: "authorization_pending" }) });

    // Like MAS with auto-fill off, ?user_code= is ignored: the user types the code.
    const browser = new MiniBrowser();
    const entry = await browser.go(`${grant.verification_uri}?user_code=${grant.user_code}`);
    expect(entry.html).not.toContain(grant.user_code);
    const consent = await browser.submit(entry, { user_code: grant.user_code.toLowerCase() });
    expect(consent.html).toContain("MASDEVICEID");
    await browser.submit(consent, {}, { button: "abort" });
    expect(await poll(md, clientId, grant.device_code)).toEqual({ status: 403, json: expect.objectContaining({ error: "access_denied" }) });
  });

  test("403 expired_token; unknown device code stays 400 invalid_grant", async () => {
    const clientId = await registerDeviceClient(md);
    const grant = await startGrant(md, clientId, "MASEXPIRING");
    await sleep(2300);
    expect(await poll(md, clientId, grant.device_code)).toEqual({ status: 403, json: expect.objectContaining({ error: "expired_token" }) });
    expect(await poll(md, clientId, "not-a-device-code")).toEqual({ status: 400, json: expect.objectContaining({ error: "invalid_grant" }) });
  });
});
