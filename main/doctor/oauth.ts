// OAuth 2.0: the server metadata at the path each client asks (matrix-js-sdk: the stable path when
// /versions lists v1.15 or later, else MSC2965's; others try both), the device authorization grant
// (MSC4341, MAS's oauth.device_code_grant_enabled) and dynamic client registration. Nothing is
// registered unless the run asks for it (--register-client); then one test client is registered and
// one device authorization requested, which nobody approves and which expires on its own.
import { DEVICE_CODE_GRANT, matrixScopes, supportsDeviceGrant } from "../../contract/oauth.js";
import { OAuthError, type AuthMetadata } from "../login/flows/ports.js";
import { authMetadataProblems, generateDeviceId, registerClient, requestDeviceAuthorization } from "../login/oauth/client.js";
import { BROWSER_ORIGIN, type DoctorContext } from "./context.js";
import { FIX } from "./fixes.js";
import { describe, isMatrixJson, ProbeError, type Answer } from "./probe.js";
import type { VersionsFacts } from "./discovery.js";

const STABLE = "/_matrix/client/v1/auth_metadata";
const UNSTABLE = "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata";

export interface OAuthFacts {
  readonly metadata: Record<string, unknown> | null;
  readonly deviceGrant: boolean;
}

const DOCTOR_CLIENT = {
  client_name: "qr-login doctor (test client)",
  client_uri: "https://github.com/qr-login/qr-login",
  application_type: "native" as const,
  grant_types: [DEVICE_CODE_GRANT, "refresh_token"],
  response_types: [],
  redirect_uris: [],
};

/** matrix-js-sdk asks the stable path only when the homeserver lists v1.15 or later. */
function jsSdkUsesStable(versions: readonly string[]): boolean {
  return versions.some((v) => {
    const m = /^v(\d+)\.(\d+)$/.exec(v);
    return m !== null && (Number(m[1]) > 1 || Number(m[2]) >= 15);
  });
}

async function fetchMetadata(ctx: DoctorContext, path: string): Promise<Answer | ProbeError> {
  try {
    return await ctx.prober.request(ctx.url(path), { headers: { accept: "application/json", origin: BROWSER_ORIGIN }, follow: 3 });
  } catch (err) {
    if (err instanceof ProbeError) return err;
    throw err;
  }
}

const usable = (a: Answer | ProbeError): a is Answer => !(a instanceof ProbeError) && a.status === 200 && a.json !== null;
const named = (a: Answer | ProbeError): string => (a instanceof ProbeError ? a.message : describe(a));

export async function checkOAuth(ctx: DoctorContext, versions: VersionsFacts, opts: { registerClient: boolean }): Promise<OAuthFacts> {
  ctx.running("oauth.metadata", `GET ${STABLE} and ${UNSTABLE}`);
  const [stable, unstable] = await Promise.all([fetchMetadata(ctx, STABLE), fetchMetadata(ctx, UNSTABLE)]);
  const wantStable = jsSdkUsesStable(versions.versions);
  const chosen = usable(stable) ? stable : usable(unstable) ? unstable : null;
  if (!chosen) {
    const seen = `${STABLE}: ${named(stable)}; ${UNSTABLE}: ${named(unstable)}`;
    const isMatrix = [stable, unstable].some((a) => !(a instanceof ProbeError) && isMatrixJson(a));
    ctx.report("oauth.metadata", "fail",
      `no OAuth 2.0 server metadata (${seen})${isMatrix ? ": the homeserver does not delegate sign-in to an OAuth 2.0 server (MAS), which sign in with QR needs" : ""}`, FIX.oauthMissing);
    ctx.notChecked(["oauth.device-grant", "oauth.registration"], "the homeserver publishes no OAuth 2.0 metadata (see oauth.metadata)");
    return { metadata: null, deviceGrant: false };
  }
  const md = chosen.json!;
  const path = chosen === stable ? STABLE : UNSTABLE;
  const problems = authMetadataProblems(md);
  const issuer = typeof md["issuer"] === "string" ? md["issuer"] : "?";
  const jsSdkPath = wantStable ? STABLE : UNSTABLE;
  const jsSdkSees = wantStable ? usable(stable) : usable(unstable);
  if (problems.length) {
    ctx.report("oauth.metadata", "fail", `the metadata at ${path} is incomplete: ${problems.join(", ")}`, FIX.oauthInvalid);
  } else if (!jsSdkSees) {
    ctx.report("oauth.metadata", "warn",
      `metadata at ${path} (issuer ${issuer}), but matrix-js-sdk (Element Web) asks ${jsSdkPath}${wantStable ? " because /versions lists v1.15" : " because /versions does not list v1.15"}, which answered ${named(wantStable ? stable : unstable)}`,
      wantStable ? FIX.oauthStableMissing : "Forward /_matrix/client/unstable/org.matrix.msc2965/auth_metadata to Synapse too, or list v1.15 in /versions (Synapse ≥ 1.136).");
  } else if (chosen.headers.get("access-control-allow-origin") === null) {
    ctx.report("oauth.metadata", "warn", `metadata at ${path} (issuer ${issuer}), but without Access-Control-Allow-Origin: Element Web cannot read it`, FIX.versionsCors);
  } else {
    ctx.report("oauth.metadata", "pass", `issuer ${issuer}, at ${path}${usable(stable) && usable(unstable) ? " (and the unstable path)" : ""}`);
  }

  const grants = Array.isArray(md["grant_types_supported"]) ? (md["grant_types_supported"] as unknown[]) : [];
  const endpoint = md["device_authorization_endpoint"];
  const deviceGrant = supportsDeviceGrant(md);
  const registration = typeof md["registration_endpoint"] === "string" ? (md["registration_endpoint"] as string) : null;
  if (!deviceGrant) {
    const what = !grants.includes(DEVICE_CODE_GRANT) ? `grant_types_supported lacks ${DEVICE_CODE_GRANT}` : "there is no device_authorization_endpoint";
    ctx.report("oauth.device-grant", "fail", `the OAuth 2.0 server does not offer the device authorization grant (${what}): no client can sign in a new device with a QR code`, FIX.deviceGrant);
  }

  if (!opts.registerClient) {
    if (deviceGrant) ctx.report("oauth.device-grant", "pass", `advertised: ${endpoint as string}`);
    if (registration) ctx.report("oauth.registration", "pass", `advertised at ${registration} (not tried: doctor registers a client only with --register-client)`);
    else ctx.report("oauth.registration", "warn", "no registration_endpoint: only clients with a client id registered beforehand can sign in", FIX.registration);
    return { metadata: md, deviceGrant };
  }

  // --register-client: one registration, one device authorization request (never approved).
  if (!registration) {
    ctx.report("oauth.registration", "fail", "no registration_endpoint: qr-login and Element register themselves before signing in", FIX.registration);
    if (deviceGrant) ctx.report("oauth.device-grant", "pass", `advertised: ${endpoint as string} (not tried: no client could be registered)`);
    return { metadata: md, deviceGrant };
  }
  if (!deviceGrant) {
    ctx.report("oauth.registration", "skip", "not checked: a client for the device grant cannot be registered where the grant is not offered (see oauth.device-grant)");
    return { metadata: md, deviceGrant };
  }
  ctx.running("oauth.registration", `POST ${registration}`);
  let clientId: string;
  try {
    clientId = (await registerClient(md as AuthMetadata, DOCTOR_CLIENT, { fetch: ctx.prober.globalFetch })).client_id;
  } catch (err) {
    ctx.report("oauth.registration", "fail", `registering a test client failed: ${err instanceof Error ? err.message : String(err)}`, FIX.registration);
    ctx.report("oauth.device-grant", "pass", `advertised: ${endpoint as string} (not tried: no client could be registered)`);
    return { metadata: md, deviceGrant };
  }
  ctx.report("oauth.registration", "pass", `registered a test client (${clientId}) at ${registration}`);
  ctx.running("oauth.device-grant", `POST ${endpoint as string}`);
  try {
    const auth = await requestDeviceAuthorization(md as AuthMetadata, clientId, matrixScopes(generateDeviceId()), { fetch: ctx.prober.globalFetch });
    ctx.report("oauth.device-grant", "pass", `a device authorization request was answered (user code ${auth.user_code.length} characters, expires in ${auth.expires_in} s, consent at ${auth.verification_uri})`);
  } catch (err) {
    const detail = err instanceof OAuthError ? `${err.message}${err.details.errorDescription ? `: ${err.details.errorDescription}` : ""}` : String(err);
    ctx.report("oauth.device-grant", "fail", `the device authorization grant is advertised but a request failed: ${detail}`, FIX.deviceGrant);
  }
  return { metadata: md, deviceGrant };
}
