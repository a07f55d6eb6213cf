// The 2025 version's rendezvous (MSC4388), at both prefixes: the unstable one Element's Rust stack and
// Synapse use, and v1. Per prefix: the discovery GET (create_available, long-poll advertised), then
// one session walked through create → reads → a write → reads → a retried write (idempotent) → a
// stale write (409) → delete. A 4 KiB write goes through on the first prefix served.
import { PROFILES, RENDEZVOUS_PATH_STABLE, RENDEZVOUS_PATH_UNSTABLE } from "../protocol/profile.js";
import { parseLongPoll, type LongPollSupport } from "../protocol/rendezvous-long-poll.js";
import { MAX_DATA_BYTES, MAX_TTL_MS, MIN_TTL_MS, OPAQUE_ID_PATTERN } from "../../server/rendezvous/protocol.js";
import { ordinal, type DoctorContext } from "./context.js";
import type { Findings} from "./findings.js";
import { WalkStopped } from "./findings.js";
import { FIX } from "./fixes.js";
import { describe, errcodeOf, isMatrixJson, ProbeError, type Answer } from "./probe.js";
import type { CheckId } from "./types.js";

export const CHECKS_2025: readonly CheckId[] = ["rendezvous-2025.create", "rendezvous-2025.consistent", "rendezvous-2025.sequence", "rendezvous-2025.cors"];

export interface Prefix {
  readonly path: string;
  readonly label: string;
  /** The errcode MSC4388 gives a stale write on this prefix. */
  readonly concurrentWriteErrcode: string;
}

/** Unstable first: what Element X and Synapse use; v1 is what the MSC names. */
export const PREFIXES: readonly Prefix[] = [RENDEZVOUS_PATH_UNSTABLE, RENDEZVOUS_PATH_STABLE].map((path) => ({
  path,
  label: path === RENDEZVOUS_PATH_STABLE ? "the v1 prefix" : "the unstable prefix (io.element.msc4388)",
  concurrentWriteErrcode: Object.values(PROFILES).find((p) => p.rendezvousPath === path)!.concurrentWriteErrcode,
}));

export type Discovery2025 =
  /** Served; `create` says whether this requester may create sessions. */
  | { readonly kind: "served"; readonly prefix: Prefix; readonly create: boolean; readonly longPoll: LongPollSupport | undefined; readonly answer: Answer }
  | { readonly kind: "unrecognized"; readonly prefix: Prefix; readonly answer: Answer }
  | { readonly kind: "unrouted"; readonly prefix: Prefix; readonly answer: Answer }
  | { readonly kind: "error"; readonly prefix: Prefix; readonly detail: string };

export async function discover2025(ctx: DoctorContext): Promise<Discovery2025[]> {
  ctx.running("rendezvous-2025.create", `GET ${PREFIXES.map((p) => p.path).join(" and ")}`);
  return Promise.all(PREFIXES.map(async (prefix): Promise<Discovery2025> => {
    let a: Answer;
    try {
      a = await ctx.prober.request(ctx.url(prefix.path), { headers: { accept: "application/json", ...ctx.authHeaders() } });
    } catch (err) {
      if (err instanceof ProbeError) return { kind: "error", prefix, detail: err.message };
      throw err;
    }
    if (a.status === 200 && a.json && typeof a.json["create_available"] === "boolean") {
      return { kind: "served", prefix, create: a.json["create_available"] === true, longPoll: parseLongPoll(a.json), answer: a };
    }
    // Synapse in authenticated mode answers discovery without a token with 401.
    if ((a.status === 401 || a.status === 403) && isMatrixJson(a)) return { kind: "served", prefix, create: false, longPoll: undefined, answer: a };
    if ((a.status === 404 || a.status === 405) && isMatrixJson(a)) return { kind: "unrecognized", prefix, answer: a };
    if (!isMatrixJson(a)) return { kind: "unrouted", prefix, answer: a };
    return { kind: "error", prefix, detail: `GET ${prefix.path} answered ${describe(a)}` };
  }));
}

export interface Session2025 {
  readonly prefix: Prefix;
  readonly url: string;
  readonly token: string;
  readonly expiresInMs: number;
  readonly longPoll: LongPollSupport | undefined;
}

type Created = { readonly ok: true; readonly session: Session2025 } | { readonly ok: false; readonly authenticated: boolean; readonly summary: string; readonly fix: string; readonly warn?: boolean };

/** POST a session with `data`; registered for deletion. */
export async function create2025(ctx: DoctorContext, prefix: Prefix, data: string, headers: Record<string, string> = {}): Promise<Created> {
  const base = ctx.url(prefix.path);
  let a: Answer;
  try {
    a = await ctx.prober.request(base, { method: "POST", headers: { accept: "application/json", "content-type": "application/json", ...ctx.authHeaders(), ...headers }, body: JSON.stringify({ data }) });
  } catch (err) {
    if (err instanceof ProbeError) return { ok: false, authenticated: false, summary: `POST ${prefix.path}: ${err.message}`, fix: FIX.route2025 };
    throw err;
  }
  if (a.status === 401 || a.status === 403) return { ok: false, authenticated: true, summary: `POST ${prefix.path} answered ${describe(a)}`, fix: "" };
  if (a.status === 429) return { ok: false, authenticated: false, warn: true, summary: `POST ${prefix.path} was rate limited (429): try again in a minute`, fix: "Nothing to change if this was a one-off; otherwise raise the rendezvous server's create limit." };
  const id = a.json?.["id"];
  const token = a.json?.["sequence_token"];
  const expires = a.json?.["expires_in_ms"];
  if (a.status !== 200 || typeof id !== "string" || typeof token !== "string" || typeof expires !== "number") {
    return { ok: false, authenticated: false, summary: `POST ${prefix.path} answered ${describe(a)}${a.status === 200 ? " without id, sequence_token and expires_in_ms" : ""}`, fix: isMatrixJson(a) ? FIX.serverCreate : FIX.route2025 };
  }
  const url = `${base}/${encodeURIComponent(id)}`;
  ctx.sessions.add(url);
  return { ok: true, session: { prefix, url, token, expiresInMs: expires, longPoll: parseLongPoll(a.json) } };
}

const utf8Length = (s: string) => new TextEncoder().encode(s).length;

/** One prefix's walk; its findings go to `f` (create, consistent, sequence) and `bodySize`. */
export async function walk2025(ctx: DoctorContext, prefix: Prefix, f: Findings, bodySize: Findings | null): Promise<"created" | "authenticated" | "failed"> {
  ctx.running("rendezvous-2025.create", `POST ${prefix.path}`);
  const d0 = `qr-login doctor ${crypto.randomUUID()}`;
  const c = await create2025(ctx, prefix, d0);
  if (!c.ok) {
    if (c.authenticated) {
      f.fail("rendezvous-2025.create", `discovery says create_available: true, but ${c.summary}`, "The rendezvous server's discovery and create must agree: check its mode (open/authenticated) and the access-token verification behind it.");
      f.stoppedBecause ??= "no session could be created";
      return "authenticated";
    }
    if (c.warn) f.warn("rendezvous-2025.create", c.summary, c.fix);
    else f.fail("rendezvous-2025.create", c.summary, c.fix);
    f.stoppedBecause ??= "no session could be created";
    return "failed";
  }
  const s = c.session;
  const id = decodeURIComponent(s.url.slice(s.url.lastIndexOf("/") + 1));
  if (!OPAQUE_ID_PATTERN.test(id) || utf8Length(id) > 255) {
    f.fail("rendezvous-2025.create", `the session id "${id.slice(0, 40)}…" is not an opaque identifier of at most 255 bytes: it does not fit in the QR code`, FIX.sessionIds);
  } else if (s.expiresInMs < MIN_TTL_MS - 5_000 || s.expiresInMs > MAX_TTL_MS) {
    f.warn("rendezvous-2025.create", `sessions live ${Math.round(s.expiresInMs / 1000)} s; MSC4388 recommends 120 to 300 s (less leaves too little time to scan, type the code and consent)`, "Set the rendezvous server's session lifetime to 120–300 s (qr-login server: ttl).");
  } else f.saw("rendezvous-2025.create", bodySize ? `sessions live ${Math.round(s.expiresInMs / 1000)} s` : undefined);
  try {
    await walk(ctx, s, d0, f, bodySize);
  } catch (err) {
    if (err instanceof WalkStopped) return "created";
    if (err instanceof ProbeError) {
      f.fail("rendezvous-2025.consistent", `a request to the session failed: ${err.message}`, FIX.unreachable(new URL(s.url).host));
      f.stoppedBecause ??= `a request to the session failed (${err.message})`;
      return "created";
    }
    throw err;
  }
  return "created";
}

async function walk(ctx: DoctorContext, s: Session2025, d0: string, f: Findings, bodySize: Findings | null): Promise<void> {
  const json = { accept: "application/json" };
  const get = () => ctx.prober.request(s.url, { headers: json });
  const put = (token: string, data: string) => ctx.prober.request(s.url, { method: "PUT", headers: { ...json, "content-type": "application/json" }, body: JSON.stringify({ sequence_token: token, data }) });

  ctx.running("rendezvous-2025.consistent", `reading the session at ${s.prefix.label} 3 times`);
  await reads(ctx, s, f, d0, s.token, "before any write");

  const d1 = `qr-login doctor write ${crypto.randomUUID()}`;
  const w1 = await put(s.token, d1);
  const t1 = w1.json?.["sequence_token"];
  if (w1.status !== 200 || typeof t1 !== "string") {
    const missing = w1.status === 404 && isMatrixJson(w1);
    f.fail("rendezvous-2025.consistent", `a PUT with the current sequence_token answered ${describe(w1)}${missing ? ": it reached a server that does not have the session" : w1.status === 409 ? ": the server that answered holds another version of the session" : ""}`, isMatrixJson(w1) ? FIX.noSharedSessions : FIX.route2025);
    f.stop("the first write was refused");
  }
  if (t1 === s.token) f.fail("rendezvous-2025.sequence", "the sequence_token did not change on a write: MSC4388 requires a new one for every write", FIX.staleWrites);
  else f.saw("rendezvous-2025.sequence");

  ctx.running("rendezvous-2025.consistent", `reading the session at ${s.prefix.label} 3 times after a write`);
  await reads(ctx, s, f, d1, t1, "after a write", d0);

  ctx.running("rendezvous-2025.sequence", "a retried PUT and a stale PUT");
  const replay = await put(s.token, d1);
  if (replay.status === 200 && replay.json?.["sequence_token"] === t1) f.saw("rendezvous-2025.sequence");
  else if (replay.status === 409) f.warn("rendezvous-2025.sequence", "a retried PUT (same data, the token it was sent with) got 409: a write whose answer was lost cannot be retried", FIX.idempotent);
  else f.warn("rendezvous-2025.sequence", `a retried PUT answered ${describe(replay)}${replay.status === 200 ? " with another sequence_token than the write it repeats" : ""}`, FIX.idempotent);

  const staleData = `qr-login doctor stale write ${crypto.randomUUID()}`;
  const stale = await put(s.token, staleData);
  if (stale.status === 409) f.saw("rendezvous-2025.sequence", `409 ${errcodeOf(stale) ?? "(no errcode)"}`);
  else if (stale.status === 200) f.fail("rendezvous-2025.sequence", "a PUT with an outdated sequence_token and new data was accepted: a second writer silently replaces the first", FIX.staleWrites);
  else f.fail("rendezvous-2025.sequence", `a PUT with an outdated sequence_token answered ${describe(stale)}, not 409`, FIX.staleWrites);
  const after = await get();
  if (stale.status !== 200 && after.status === 200 && after.json?.["data"] === staleData) f.fail("rendezvous-2025.sequence", "a stale write was refused, yet the session now holds its data", FIX.staleWrites);

  if (bodySize) {
    ctx.running("rendezvous.body-size", `PUT of ${MAX_DATA_BYTES} bytes of data`);
    const big = "x".repeat(MAX_DATA_BYTES);
    const wb = await put(t1, big);
    const t2 = wb.json?.["sequence_token"];
    if (wb.status === 200 && typeof t2 === "string") {
      const back = await get();
      const got = back.json?.["data"];
      if (back.status === 200 && got === big) bodySize.saw("rendezvous.body-size", `2025: a PUT of ${MAX_DATA_BYTES} bytes of data and its GET went through`);
      else if (back.status === 200 && (got === d0 || got === d1)) {
        // The write went through; the read was answered from a cache (a consistency matter).
        bodySize.saw("rendezvous.body-size", `2025: a PUT of ${MAX_DATA_BYTES} bytes of data was accepted`);
        f.fail("rendezvous-2025.consistent", "a GET after a write returned the data as it was before the write: a cache answered", FIX.noCache);
      } else bodySize.fail("rendezvous.body-size", `2025: after a PUT of ${MAX_DATA_BYTES} bytes the GET answered ${describe(back)}`, FIX.proxyBody);
    } else if (wb.status === 413) {
      bodySize.fail("rendezvous.body-size", `2025: a PUT of ${MAX_DATA_BYTES} bytes of data was refused with ${describe(wb)}${isMatrixJson(wb) ? " by the rendezvous server" : " by the proxy"}`, isMatrixJson(wb) ? FIX.serverBody : FIX.proxyBody);
    } else bodySize.fail("rendezvous.body-size", `2025: a PUT of ${MAX_DATA_BYTES} bytes of data answered ${describe(wb)}`, FIX.proxyBody);
  }

  ctx.running("rendezvous-2025.consistent", "DELETE, then GET");
  const del = await ctx.prober.request(s.url, { method: "DELETE", headers: json });
  if (del.status >= 200 && del.status < 300) {
    ctx.sessions.deleted(s.url);
    const gone = await get();
    if (gone.status === 404) f.saw("rendezvous-2025.consistent");
    else f.fail("rendezvous-2025.consistent", `after DELETE a GET still answered ${describe(gone)}: a cache or another backend serves deleted sessions`, FIX.noCache);
  } else f.fail("rendezvous-2025.consistent", `DELETE on the session answered ${describe(del)}`, FIX.noSharedSessions);
}

async function reads(ctx: DoctorContext, s: Session2025, f: Findings, data: string, token: string, when: string, previous?: string): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const a = await ctx.prober.request(s.url, { headers: { accept: "application/json" } });
    const which = `the ${ordinal(i + 1)} of 3 GETs ${when}`;
    if (a.status !== 200 || !a.json) {
      const missing = a.status === 404 && isMatrixJson(a);
      f.fail("rendezvous-2025.consistent", `${which} answered ${describe(a)}${missing ? ": it reached a server that does not have the session" : ""}`, isMatrixJson(a) ? FIX.noSharedSessions : FIX.route2025);
      continue;
    }
    if (a.json["data"] !== data) {
      const stale = previous !== undefined && a.json["data"] === previous;
      f.fail("rendezvous-2025.consistent", `${which} returned ${stale ? "the data as it was before the write: a cache answered" : "other data than was written"}`, stale ? FIX.noCache : FIX.noSharedSessions);
      continue;
    }
    if (a.json["sequence_token"] !== token) {
      f.fail("rendezvous-2025.sequence", `${which} returned sequence_token ${String(a.json["sequence_token"]).slice(0, 20)}…, not the one the write returned: clients bind the token into their encryption, and the sign-in fails`, FIX.noSharedSessions);
      continue;
    }
    f.saw("rendezvous-2025.consistent");
  }
}
