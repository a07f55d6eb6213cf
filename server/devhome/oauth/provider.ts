// The development homeserver's OAuth 2.0 authorization server: oidc-provider configured the way Matrix
// clients expect an MSC3861-style server (MAS) to behave — open dynamic client registration, authorization
// code + PKCE (S256), the RFC 8628 device authorization grant (MSC4341), refresh tokens, revocation — with the
// Matrix scopes carried as Resource Indicator scopes of the homeserver (oidc-provider v8+ has no other way to
// issue non-OIDC scopes). What oidc-provider does not do itself is added as thin koa middleware around its
// routes: `slow_down` (RFC 8628 §3.5), the `interval` field, MAS's 403 quirks, and creating the device in the
// Client-Server API when a device-scoped token is issued.
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import Provider, { errors } from "oidc-provider";
import type { Configuration, JWK, KoaContextWithOIDC, ClientMetadata } from "oidc-provider";
import type { DevhomeDb } from "../storage.js";
import type { DevhomeAuth, DeviceRegistry, TokenInfo } from "../types.js";
import type { Accounts } from "./accounts.js";
import { sqliteAdapter } from "./adapter.js";
import { codeInputPage, deviceConsentPage, messagePage, PAGE_CSP } from "./pages.js";
import { DEVICE_CODE_GRANT, matrixScopes } from "../../../contract/oauth.js";
import { grantedMatrixAccess, parseMatrixScopes, ScopeError } from "./scopes.js";

export const OAUTH_PREFIX = "/oauth2";
/** Public client used for tokens issued without a browser (seeding, tests). */
export const INTERNAL_CLIENT_ID = "qr-login-devhome-internal";

export interface OAuthTtls {
  /** Device code lifetime, seconds (MAS: 1200). */
  deviceCode?: number;
  /** Access token lifetime for interactive grants, seconds. */
  accessToken?: number;
  /** Access token lifetime for issueDeviceToken (seeding), seconds. */
  programmaticAccessToken?: number;
  refreshToken?: number;
}

export interface OAuthServerOptions {
  /** Issuer = the homeserver's base URL, with a trailing slash. Also the RFC 8707 resource of Matrix tokens. */
  issuer: string;
  db: DevhomeDb;
  accounts: Accounts;
  /** Answer like MAS: 403 for pending/denied/expired, no slow_down, no verification_uri_complete. */
  masQuirks?: boolean;
  /** Device-grant polling interval in seconds (RFC 8628 default and MAS: 5). */
  deviceInterval?: number;
  ttl?: OAuthTtls;
  /** Late-bound: the CS API registers its registry after the OAuth server exists. */
  deviceRegistry?: () => DeviceRegistry | undefined;
}

export interface OAuthServer {
  readonly provider: Provider;
  readonly issuer: string;
  /** RFC 8707 resource indicator of the Matrix API (= issuer). */
  readonly resource: string;
  readonly masQuirks: boolean;
  readonly accounts: Accounts;
  /** Node request handler serving every oidc-provider route (paths under /oauth2 and discovery). */
  handle(req: IncomingMessage, res: ServerResponse): void;
  readonly auth: DevhomeAuth;
  /** Key for the interaction pages' CSRF tokens. */
  readonly csrfKey: Buffer;
}

const PENDING_LIKE = new Set(["authorization_pending", "access_denied", "expired_token"]);

/** Secrets that must survive restarts of a file-backed devhome (signing key, cookie keys). */
function persistentSecret(db: DevhomeDb, name: string, make: () => string): string {
  db.exec("CREATE TABLE IF NOT EXISTS devhome_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)");
  const row = db.prepare<[string], { value: string }>("SELECT value FROM devhome_secrets WHERE name = ?").get(name);
  if (row) return row.value;
  const value = make();
  db.prepare("INSERT INTO devhome_secrets (name, value) VALUES (?, ?)").run(name, value);
  return value;
}

function signingKey(db: DevhomeDb): JWK {
  const json = persistentSecret(db, "oauth_rs256_jwk", () => {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const jwk = privateKey.export({ format: "jwk" });
    const kid = createHash("sha256").update(String(jwk.n)).digest("base64url").slice(0, 16);
    return JSON.stringify({ ...jwk, kid, alg: "RS256", use: "sig" });
  });
  return JSON.parse(json) as JWK;
}

/** Every Matrix scope the current request is about: requested ones and those of the code/token being exchanged. */
function matrixScopesOf(ctx: KoaContextWithOIDC): string {
  const found: string[] = [];
  const add = (scope: unknown): void => {
    if (typeof scope !== "string") return;
    for (const token of parseMatrixScopesLenient(scope)) if (!found.includes(token)) found.push(token);
  };
  const entities = ctx.oidc.entities as Record<string, { scope?: unknown; params?: { scope?: unknown } } | undefined>;
  add(ctx.oidc.params?.scope);
  for (const name of ["DeviceCode", "RefreshToken", "AuthorizationCode", "Interaction"]) {
    add(entities[name]?.scope);
    add(entities[name]?.params?.scope);
  }
  return found.join(" ");
}

function parseMatrixScopesLenient(scope: string): string[] {
  try {
    return parseMatrixScopes(scope).matrix;
  } catch {
    return [];
  }
}

/** Routes where the client states what it wants: the scope policy is enforced there, before any user sees it. */
const REQUEST_ROUTES = new Set(["authorization", "device_authorization", "pushed_authorization_request"]);

export async function createOAuthServer(opts: OAuthServerOptions): Promise<OAuthServer> {
  const { db, accounts, issuer } = opts;
  if (!issuer.endsWith("/")) throw new Error("issuer must end with a slash");
  const resource = issuer;
  const masQuirks = opts.masQuirks ?? false;
  const interval = opts.deviceInterval ?? 5;
  const ttl = {
    deviceCode: opts.ttl?.deviceCode ?? 1200,
    accessToken: opts.ttl?.accessToken ?? 3600,
    programmaticAccessToken: opts.ttl?.programmaticAccessToken ?? 7 * 24 * 3600,
    refreshToken: opts.ttl?.refreshToken ?? 30 * 24 * 3600,
  };
  const cookieKey = persistentSecret(db, "oauth_cookie_key", () => randomBytes(32).toString("base64url"));
  const csrfKey = Buffer.from(persistentSecret(db, "oauth_csrf_key", () => randomBytes(32).toString("base64url")), "base64url");

  const resourceServerInfo = (scope: string, accessTokenTTL = ttl.accessToken) => ({
    scope,
    audience: resource,
    accessTokenFormat: "opaque" as const,
    accessTokenTTL,
  });

  const internalClient: ClientMetadata = {
    client_id: INTERNAL_CLIENT_ID,
    client_name: "qr-login development homeserver",
    token_endpoint_auth_method: "none",
    grant_types: [DEVICE_CODE_GRANT, "refresh_token"],
    response_types: [],
    redirect_uris: [],
    application_type: "native",
  };

  const configuration: Configuration = {
    adapter: sqliteAdapter(db),
    clients: [internalClient],
    jwks: { keys: [signingKey(db)] },
    cookies: { keys: [cookieKey] },
    scopes: ["openid", "offline_access"],
    claims: { openid: ["sub"] },
    responseTypes: ["code"],
    pkce: { required: () => true },
    // Any user id on this server is an account as far as tokens go; who may log in is decided by the password check.
    findAccount: async (_ctx, sub) =>
      sub.startsWith("@") && sub.endsWith(`:${accounts.serverName}`) ? { accountId: sub, claims: async () => ({ sub }) } : undefined,
    // MSC4341: the server MUST issue a refresh token; like MAS, only to clients registered for the refresh grant.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed("refresh_token"),
    expiresWithSession: async () => false,
    interactions: { url: async (_ctx, interaction) => `${OAUTH_PREFIX}/interaction/${interaction.uid}` },
    routes: {
      authorization: `${OAUTH_PREFIX}/authorize`,
      backchannel_authentication: `${OAUTH_PREFIX}/backchannel`,
      code_verification: `${OAUTH_PREFIX}/device`,
      challenge: `${OAUTH_PREFIX}/challenge`,
      device_authorization: `${OAUTH_PREFIX}/device_authorization`,
      end_session: `${OAUTH_PREFIX}/session/end`,
      introspection: `${OAUTH_PREFIX}/introspect`,
      jwks: `${OAUTH_PREFIX}/jwks`,
      pushed_authorization_request: `${OAUTH_PREFIX}/par`,
      registration: `${OAUTH_PREFIX}/registration`,
      revocation: `${OAUTH_PREFIX}/revoke`,
      token: `${OAUTH_PREFIX}/token`,
      userinfo: `${OAUTH_PREFIX}/userinfo`,
    } as Configuration["routes"],
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? ttl.accessToken,
      AuthorizationCode: 60,
      DeviceCode: ttl.deviceCode,
      Grant: ttl.refreshToken,
      IdToken: 3600,
      Interaction: 3600,
      RefreshToken: ttl.refreshToken,
      Session: 14 * 24 * 3600,
    },
    features: {
      devInteractions: { enabled: false },
      registration: { enabled: true },
      // RFC 7009: a client revokes only its own tokens; a public client asking about someone else's gets the
      // same 200 as for an unknown token, so it learns nothing.
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      introspection: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.type = "html";
          ctx.body = messagePage("Sign out", "Sign out of the development homeserver in this browser?")
            .replace("</main>", `${form}<button type="submit" form="op.logoutForm" name="logout" value="yes" class="primary">Sign out</button></main>`);
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.type = "html";
          ctx.body = messagePage("Signed out", "You are signed out in this browser.");
        },
      },
      deviceFlow: {
        enabled: true,
        charset: "base-20",
        // MAS's user codes are 6 characters without a dash; ours otherwise follow RFC 8628 §6.1's example.
        mask: masQuirks ? "******" : "****-****",
        userCodeInputSource: async (ctx, _form, _out, err) => {
          const secret = (ctx.oidc.session?.state as { secret?: string } | undefined)?.secret ?? "";
          const error = !err ? undefined
            : err.name === "AbortedError" ? "The sign-in request was denied. Nothing was approved."
            : err.name === "ExpiredError" ? "That code has expired. Start again on the other device."
            : err.name === "AlreadyUsedError" ? "That code has already been used."
            : err.name === "NoCodeError" || err.name === "NotFoundError" ? "That code is not valid. Check it and try again."
            : "Something went wrong. Start again on the other device.";
          ctx.type = "html";
          ctx.set("Content-Security-Policy", PAGE_CSP);
          ctx.body = codeInputPage({ action: ctx.oidc.urlFor("code_verification"), xsrf: secret, ...(error ? { error } : {}) });
        },
        userCodeConfirmSource: async (ctx, form, client, _deviceInfo, userCode) => {
          const code = ctx.oidc.entities.DeviceCode as { params?: { scope?: unknown } } | undefined;
          const scopes = parseMatrixScopesLenient(String(code?.params?.scope ?? ""));
          const deviceId = grantedMatrixAccess(scopes).deviceId;
          const xsrf = /name="xsrf" value="([^"]*)"/.exec(form)?.[1] ?? "";
          const accountId = ctx.oidc.session?.accountId;
          ctx.type = "html";
          ctx.set("Content-Security-Policy", PAGE_CSP);
          ctx.body = deviceConsentPage({
            action: ctx.oidc.urlFor("code_verification"),
            xsrf,
            userCode,
            clientName: client.clientName ?? client.clientId,
            ...(client.clientUri ? { clientUri: client.clientUri } : {}),
            ...(deviceId ? { deviceId } : {}),
            ...(accountId ? { signedInAs: accountId } : {}),
          });
        },
        successSource: async (ctx) => {
          ctx.type = "html";
          ctx.set("Content-Security-Policy", PAGE_CSP);
          ctx.body = messagePage("Device approved", "The other device is being signed in. You can close this page and return to it.");
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => (oneOf ? oneOf[0]! : resource),
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, indicator) => {
          if (indicator !== resource) throw new errors.InvalidTarget("unknown resource indicator");
          if (REQUEST_ROUTES.has(ctx.oidc.route)) {
            try {
              return resourceServerInfo(parseMatrixScopes(String(ctx.oidc.params?.scope ?? "")).matrix.join(" "));
            } catch (err) {
              if (err instanceof ScopeError) throw new errors.InvalidScope(err.message, String(ctx.oidc.params?.scope ?? ""));
              throw err;
            }
          }
          return resourceServerInfo(matrixScopesOf(ctx));
        },
      },
    },
    renderError: async (ctx, out) => {
      ctx.type = "html";
      ctx.set("Content-Security-Policy", PAGE_CSP);
      ctx.body = messagePage("Something went wrong", `${out.error}: ${out.error_description ?? ""}`, { alert: true });
    },
  };

  const provider = new Provider(issuer, configuration);

  // --- RFC 8628 polling state for slow_down: per device code, the last poll and the current interval. ---
  const polls = new Map<string, { last: number; interval: number; expires: number }>();
  const SLACK_MS = 250; // timers may fire a little early; do not punish a client that waits the interval.

  provider.use(async (ctx, next) => {
    await next();
    const route = ctx.oidc?.route;
    if (!route) return;
    const body = ctx.body as Record<string, unknown> | undefined;

    if (route === "device_authorization" && ctx.status === 200 && body && typeof body.device_code === "string") {
      body.interval = interval;
      if (masQuirks) delete body.verification_uri_complete;
      const now = Date.now();
      for (const [k, v] of polls) if (v.expires < now) polls.delete(k);
      polls.set(body.device_code, { last: 0, interval, expires: now + ttl.deviceCode * 1000 });
      return;
    }

    if (route === "code_verification" && ctx.method === "GET" && ctx.oidc.params?.user_code) {
      // verification_uri_complete: show the entry page with the code filled in (oidc-provider would auto-post it
      // with a script). MAS with auto-fill off (its default, our --mas-quirks) ignores the code.
      const secret = (ctx.oidc.session?.state as { secret?: string } | undefined)?.secret ?? "";
      ctx.type = "html";
      ctx.set("Content-Security-Policy", PAGE_CSP);
      ctx.body = codeInputPage({
        action: ctx.oidc.urlFor("code_verification"),
        xsrf: secret,
        ...(masQuirks ? {} : { userCode: String(ctx.oidc.params.user_code).toUpperCase() }),
      });
      return;
    }

    if (route !== "token" || !body) return;
    const grantType = ctx.oidc.params?.grant_type;

    if (ctx.status === 200 && typeof body.access_token === "string") {
      if (grantType === DEVICE_CODE_GRANT || grantType === "authorization_code") {
        const scopes = typeof body.scope === "string" ? body.scope.split(" ") : [];
        const { deviceId } = grantedMatrixAccess(scopes);
        const accountId = (ctx.oidc.entities.AccessToken as { accountId?: string } | undefined)?.accountId;
        const registry = opts.deviceRegistry?.();
        // MAS upserts the device before answering, so the token works (and GET /devices/{id} is 200) at once.
        if (deviceId && accountId && registry) await registry.ensureDevice(accountId, deviceId, ctx.oidc.client?.clientName ?? undefined);
      }
      if (typeof body.device_code === "string") polls.delete(body.device_code);
      return;
    }

    if (grantType === DEVICE_CODE_GRANT && typeof body.error === "string") {
      if (masQuirks) {
        if (PENDING_LIKE.has(body.error)) ctx.status = 403;
        return;
      }
      const deviceCode = ctx.oidc.params?.device_code;
      if (body.error === "authorization_pending" && typeof deviceCode === "string") {
        const now = Date.now();
        const state = polls.get(deviceCode) ?? { last: 0, interval, expires: now + ttl.deviceCode * 1000 };
        if (now - state.last + SLACK_MS < state.interval * 1000) {
          // RFC 8628 §3.5: slow_down, and the interval grows by 5 s for this and all later requests.
          state.interval += 5;
          ctx.body = { error: "slow_down", error_description: `poll at most every ${state.interval} seconds` };
        }
        state.last = now;
        polls.set(deviceCode, state);
      }
    }
  });

  const callback = provider.callback();

  // --- Token verification and programmatic issuance for the Client-Server API ---
  const tokenRows = db.prepare<[string], { model: string; id: string; payload: string }>(
    "SELECT model, id, payload FROM oauth_store WHERE model IN ('AccessToken', 'RefreshToken') AND json_extract(payload, '$.accountId') = ?",
  );
  const deleteRow = db.prepare("DELETE FROM oauth_store WHERE model = ? AND id = ?");

  const auth: DevhomeAuth = {
    async verifyAccessToken(token: string): Promise<TokenInfo | null> {
      if (!token || token.length > 512) return null;
      const at = await provider.AccessToken.find(token);
      if (!at || at.isExpired || !at.accountId) return null;
      const aud = Array.isArray(at.aud) ? at.aud : at.aud ? [at.aud] : [];
      if (!aud.includes(resource)) return null;
      const scopes = (at.scope ?? "").split(" ").filter(Boolean);
      const { api, deviceId } = grantedMatrixAccess(scopes);
      if (!api || !deviceId) return null;
      return { userId: at.accountId, deviceId, scopes };
    },

    async issueDeviceToken({ userId, deviceId, clientName }) {
      const client = await provider.Client.find(INTERNAL_CLIENT_ID);
      if (!client) throw new Error("internal client missing");
      const scope = matrixScopes(deviceId).join(" ");
      parseMatrixScopes(scope); // the same policy as interactive requests (device id syntax)
      const grant = new provider.Grant({ accountId: userId, clientId: client.clientId });
      grant.addResourceScope(resource, scope);
      const grantId = await grant.save();
      const resourceServer = new provider.ResourceServer(resource, resourceServerInfo(scope, ttl.programmaticAccessToken));
      const at = new provider.AccessToken({ accountId: userId, client, grantId, scope, gty: DEVICE_CODE_GRANT, resourceServer });
      const access_token = await at.save();
      const rt = new provider.RefreshToken({
        accountId: userId, client, grantId, scope, resource, gty: DEVICE_CODE_GRANT, rotations: 0, iiat: Math.floor(Date.now() / 1000),
      });
      const refresh_token = await rt.save();
      await opts.deviceRegistry?.()?.ensureDevice(userId, deviceId, clientName ?? client.clientName ?? undefined);
      return { access_token, refresh_token, expires_in: ttl.programmaticAccessToken };
    },

    async revokeDeviceTokens(userId: string, deviceId: string) {
      for (const row of tokenRows.all(userId)) {
        const scope = String((JSON.parse(row.payload) as { scope?: unknown }).scope ?? "").split(" ");
        if (grantedMatrixAccess(scope).deviceId === deviceId) deleteRow.run(row.model, row.id);
      }
    },
  };

  return {
    provider,
    issuer,
    resource,
    masQuirks,
    accounts,
    auth,
    csrfKey,
    handle: (req, res) => void callback(req, res),
  };
}
