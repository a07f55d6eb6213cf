// matrix-js-sdk 43's own OAuth 2.0 code against the development homeserver: MatrixClient.getAuthMetadata()
// (versions → stable auth_metadata → isValidAuthMetadata), OAuth2.registerClient, the device authorization
// grant (startDeviceAuthorizationGrant / waitForDeviceAuthorizationGrant), the authorization code grant with
// PKCE, refresh and revocation — the client the project's apps are built on must accept this server as is.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { createClient, OAuth2, OAuthGrantType, isValidAuthMetadata } from "matrix-js-sdk";
import type { ValidatedAuthMetadata } from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { startDevhome } from "../../server/devhome/index.js";
import type { RunningDevhome } from "../../server/devhome/index.js";
import { MiniBrowser } from "./mini-browser.js";

let dh: RunningDevhome;
let metadata: ValidatedAuthMetadata;

beforeAll(async () => {
  // The SDK logs every request at debug level; its logger is a loglevel instance underneath.
  (logger as unknown as { setLevel(level: string): void }).setLevel("warn");
  dh = await startDevhome({ port: 0, seed: true, deviceInterval: 1 });
  metadata = await createClient({ baseUrl: dh.baseUrl }).getAuthMetadata();
});
afterAll(async () => {
  await dh?.close();
});

describe("matrix-js-sdk OAuth 2.0 against devhome", () => {
  test("getAuthMetadata passes the SDK's validation and advertises the device grant", () => {
    expect(isValidAuthMetadata(metadata)).toBe(true);
    expect(metadata.issuer).toBe(dh.baseUrl);
    expect(metadata.grant_types_supported).toContain(OAuthGrantType.DeviceAuthorization);
    expect(metadata.device_authorization_endpoint).toBeDefined();
  });

  test("device grant: register, start, approve in the browser, wait → tokens; refresh; revoke", async () => {
    const clientId = await OAuth2.registerClient(metadata, {
      // The SDK's defaults: authorization_code + refresh_token + the device grant (advertised), response type code.
      client_name: "js-sdk device", client_uri: "https://example.org/", application_type: "native", redirect_uris: ["http://127.0.0.1:9/callback"],
    });
    const oauth2 = new OAuth2(metadata, { clientId, deviceId: "JSSDKDEVICE" });
    const session = await oauth2.startDeviceAuthorizationGrant();
    const waited = oauth2.waitForDeviceAuthorizationGrant(session);

    const browser = new MiniBrowser();
    const consent = await browser.submit(await browser.go(session.verification_uri_complete!));
    expect(consent.html).toContain("JSSDKDEVICE");
    await browser.submit(await browser.submit(consent, {}, { button: "confirm" }), { username: "alice", password: dh.demo!.password }, { withField: "password" });

    const result = await waited;
    expect("access_token" in result).toBe(true);
    if (!("access_token" in result)) return;
    expect(await dh.auth.verifyAccessToken(result.access_token)).toEqual(expect.objectContaining({ userId: "@alice:localhost", deviceId: "JSSDKDEVICE" }));
    const whoami = await createClient({ baseUrl: dh.baseUrl, accessToken: result.access_token }).whoami();
    expect(whoami).toEqual(expect.objectContaining({ user_id: "@alice:localhost", device_id: "JSSDKDEVICE" }));

    const refreshed = await oauth2.performRefreshTokenGrant(result.refresh_token!);
    expect(await dh.auth.verifyAccessToken(refreshed.access_token)).toEqual(expect.objectContaining({ deviceId: "JSSDKDEVICE" }));
    await oauth2.revokeToken(refreshed.access_token, "access_token");
    expect(await dh.auth.verifyAccessToken(refreshed.access_token)).toBeNull();
  });

  test("device grant denied → the SDK reports access_denied", async () => {
    const clientId = await OAuth2.registerClient(metadata, {
      // The SDK's defaults: authorization_code + refresh_token + the device grant (advertised), response type code.
      client_name: "js-sdk denied", client_uri: "https://example.org/", application_type: "native", redirect_uris: ["http://127.0.0.1:9/callback"],
    });
    const oauth2 = new OAuth2(metadata, { clientId, deviceId: "JSSDKDENIED" });
    const session = await oauth2.startDeviceAuthorizationGrant();
    const waited = oauth2.waitForDeviceAuthorizationGrant(session);
    const browser = new MiniBrowser();
    await browser.submit(await browser.submit(await browser.go(session.verification_uri_complete!)), {}, { button: "abort" });
    expect(await waited).toEqual(expect.objectContaining({ error: "access_denied" }));
  });

  test("authorization code + PKCE as Element does it (fragment response mode)", async () => {
    const redirectUri = "http://127.0.0.1:9/oauth-callback";
    const clientId = await OAuth2.registerClient(metadata, {
      client_name: "js-sdk web", client_uri: "http://127.0.0.1:9/", application_type: "web", redirect_uris: [redirectUri],
    });
    const oauth2 = new OAuth2(metadata, { clientId, deviceId: "JSSDKWEBDEV" });
    const url = await oauth2.generateAuthorizationCodeGrantUrl("state-123", redirectUri, "fragment");
    const browser = new MiniBrowser();
    const consent = await browser.submit(await browser.go(url, {}, dh.baseUrl), { username: "alice", password: dh.demo!.password }, { withField: "password" });
    const back = await browser.submit(consent, {}, { button: "approve", stayOn: dh.baseUrl });
    const params = new URLSearchParams(new URL(back.url).hash.slice(1));
    expect(params.get("state")).toBe("state-123");
    const tokens = await oauth2.completeAuthorizationCodeGrant(params.get("code")!, redirectUri);
    expect(await dh.auth.verifyAccessToken(tokens.access_token)).toEqual(expect.objectContaining({ deviceId: "JSSDKWEBDEV" }));
  });
});
