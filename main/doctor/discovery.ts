// Discovery: server name → base URL (.well-known, as clients resolve it: main/login/matrix/homeserver.ts),
// and /_matrix/client/versions, which is also the gate: if the homeserver does not answer it as a
// homeserver (unreachable, a TLS error, a redirect loop, a web page), that is the one finding and the
// other checks are not run.
import { discoverHomeserver } from "../login/matrix/homeserver.js";
import { BROWSER_ORIGIN, type DoctorContext } from "./context.js";
import { FIX } from "./fixes.js";
import { describe, isHtml, ProbeError, type Answer, type Prober } from "./probe.js";
import type { CheckId } from "./types.js";

/**
 * The /versions flag of the 2024 version (Synapse: msc4108_enabled or msc4108_delegation_endpoint), the one
 * Element's clients check. main/protocol-2024 knows it too, but importing it there loads matrix-js-sdk.
 */
export const MSC4108_UNSTABLE_FEATURE = "org.matrix.msc4108";
/** The flag older MSC4388 clients looked for (Synapse removed it in 1.151 in favour of the discovery GET). */
export const MSC4388_UNSTABLE_FEATURE = "io.element.msc4388";

export interface VersionsFacts {
  readonly versions: readonly string[];
  readonly advertises2024: boolean;
  readonly advertises2025: boolean;
  /** Element Web can read it from another origin. */
  readonly cors: boolean;
}

/** Why nothing else could be checked: the one finding, under the id it belongs to. */
export interface GateFailure {
  readonly id: Extract<CheckId, "tls" | "discovery.versions" | "discovery.well-known">;
  readonly summary: string;
  readonly fix: string;
}

/** A request that failed before any answer, as the one finding. */
export function gateFailure(err: ProbeError, what: string): GateFailure {
  if (err.kind === "tls") return { id: "tls", summary: `${what}: ${err.message}`, fix: FIX.tlsError };
  if (err.kind === "redirect_loop" || err.kind === "too_many_redirects") return { id: "discovery.versions", summary: `${what}: ${err.message}`, fix: FIX.redirectLoop };
  let host = err.url;
  try {
    host = new URL(err.url).host;
  } catch {
    // keep the URL
  }
  return { id: "discovery.versions", summary: `${what}: ${err.message}`, fix: FIX.unreachable(host) };
}

/** A server name → base URL, reported as discovery.well-known; a failure is a gate failure. */
export async function resolveServerName(ctx: { prober: Prober; report: DoctorContext["report"] }, serverName: string): Promise<{ baseUrl: string } | GateFailure> {
  const found = await discoverHomeserver(serverName, { fetch: ctx.prober.fetch, timeoutMs: ctx.prober.timeoutMs });
  if ("reason" in found) {
    const failure = ctx.prober.failures.at(-1);
    if (failure?.kind === "tls") return { id: "tls", summary: `${serverName}: ${failure.message}`, fix: FIX.tlsError };
    return { id: "discovery.well-known", summary: `cannot find the homeserver of ${serverName}: ${found.reason}`, fix: FIX.wellKnown(serverName) };
  }
  const wellKnown = ctx.prober.answers.find((a) => a.url.endsWith("/.well-known/matrix/client"));
  if (wellKnown?.status === 200) {
    const cors = wellKnown.headers.get("access-control-allow-origin") !== null;
    ctx.report("discovery.well-known", cors ? "pass" : "warn",
      `${serverName} → ${found.baseUrl} (/.well-known/matrix/client)${cors ? "" : "; the answer has no Access-Control-Allow-Origin, so Element Web cannot read it"}`, FIX.wellKnownCors);
  } else {
    ctx.report("discovery.well-known", "pass", `${serverName} has no /.well-known/matrix/client (404) and serves the Client-Server API itself at ${found.baseUrl}`);
  }
  return found;
}

/** GET /_matrix/client/versions as a browser client on another origin would. */
export async function probeVersions(ctx: DoctorContext): Promise<{ facts: VersionsFacts; answer: Answer } | GateFailure> {
  const what = "GET /_matrix/client/versions";
  ctx.running("discovery.versions", what);
  let a: Answer;
  try {
    a = await ctx.prober.request(ctx.url("/_matrix/client/versions"), { headers: { accept: "application/json", origin: BROWSER_ORIGIN }, follow: 5 });
  } catch (err) {
    if (err instanceof ProbeError) return gateFailure(err, what);
    throw err;
  }
  if (a.status !== 200 || !a.json) {
    const seen = isHtml(a) ? `answered ${describe(a)}` : a.status === 200 ? "answered something that is not JSON" : `answered ${describe(a)}`;
    return { id: "discovery.versions", summary: `${what} ${seen}: this is not a Matrix homeserver's URL, or the proxy does not forward /_matrix to it`, fix: FIX.notJson };
  }
  const versions = a.json["versions"];
  if (!Array.isArray(versions) || !versions.every((v) => typeof v === "string")) {
    return { id: "discovery.versions", summary: `${what} answered JSON without a "versions" list: not the Client-Server API`, fix: FIX.notJson };
  }
  const unstable = a.json["unstable_features"];
  const flags = unstable !== null && typeof unstable === "object" && !Array.isArray(unstable) ? (unstable as Record<string, unknown>) : {};
  return {
    answer: a,
    facts: {
      versions,
      advertises2024: flags[MSC4108_UNSTABLE_FEATURE] === true,
      advertises2025: flags[MSC4388_UNSTABLE_FEATURE] === true,
      cors: a.headers.get("access-control-allow-origin") !== null,
    },
  };
}

/** discovery.versions, once it is known whether the 2025 version is served (it has its own discovery). */
export function reportVersions(ctx: DoctorContext, facts: VersionsFacts, serves2025: boolean): void {
  const latest = facts.versions.filter((v) => /^v\d+\.\d+$/.test(v)).sort((x, y) => compareVersions(x, y)).at(-1) ?? "none";
  const listed = [facts.advertises2024 ? `${MSC4108_UNSTABLE_FEATURE} (the 2024 version)` : null, facts.advertises2025 ? MSC4388_UNSTABLE_FEATURE : null].filter(Boolean);
  const base = `spec versions up to ${latest}; unstable features ${listed.length ? `include ${listed.join(" and ")}` : "name neither sign-in-with-QR version"}`;
  if (!facts.advertises2024 && !serves2025) {
    ctx.report("discovery.versions", "fail", `${base}, and the 2025 version is not served either: no client can sign in with a QR code here`, FIX.noQrAtAll);
  } else if (!facts.advertises2024) {
    ctx.report("discovery.versions", "warn",
      `${base}: Element X and Element Web say "QR code not supported" (they look for ${MSC4108_UNSTABLE_FEATURE}); MSC4388 clients find the 2025 version by its own discovery`, FIX.advertise2024);
  } else if (!facts.cors) {
    ctx.report("discovery.versions", "warn", `${base}; but the answer has no Access-Control-Allow-Origin, so Element Web cannot read it`, FIX.versionsCors);
  } else {
    ctx.report("discovery.versions", "pass", base);
  }
}

function compareVersions(a: string, b: string): number {
  const [am, an] = a.slice(1).split(".").map(Number);
  const [bm, bn] = b.slice(1).split(".").map(Number);
  return am! - bm! || an! - bn!;
}
