// The 2024 version's rendezvous (MSC4108 as Element X and Element Web ship it: ETags, text/plain),
// asked as matrix-js-sdk asks it: POST on the homeserver's unstable path, following a delegation
// redirect (Synapse's msc4108_delegation_endpoint answers 307), then GET/PUT/DELETE on the session URL
// the answer names, with Accept-Encoding as browsers and Element X send it. One session is walked
// through create → reads → conditional reads and writes → a 4 KiB write → delete; what each step shows
// goes to the check it belongs to (findings.ts).
import { parseLongPoll, type LongPollSupport } from "../protocol/rendezvous-long-poll.js";
import { MAX_2024_BODY_BYTES, MSC4108_PATH } from "../../server/rendezvous/protocol.js";
import type { DoctorContext } from "./context.js";
import { ordinal } from "./context.js";
import type { Findings} from "./findings.js";
import { WalkStopped } from "./findings.js";
import { FIX } from "./fixes.js";
import { describe, errcodeOf, isHtml, isMatrixJson, ProbeError, type Answer } from "./probe.js";
import { isLoopbackHost } from "../login/url-policy.js";
import type { CheckId } from "./types.js";

export const CHECKS_2024: readonly CheckId[] = [
  "rendezvous-2024.create", "rendezvous-2024.consistent", "rendezvous-2024.etag", "rendezvous-2024.conditional", "rendezvous-2024.content-type", "rendezvous-2024.cors",
];

export interface Created2024 {
  /** The session URL the POST's answer named. */
  readonly url: string;
  readonly post: Answer;
  /** The payload the POST stored. */
  readonly sent: string;
  /** Where a delegation redirect sent the POST, if one did. */
  readonly delegatedTo: string | null;
  readonly longPoll: LongPollSupport | undefined;
}

export type Api2024 =
  | { readonly kind: "created"; readonly created: Created2024 }
  /** Served, but only signed-in devices may create sessions (and the run has no token). */
  | { readonly kind: "authenticated"; readonly answer: Answer }
  | { readonly kind: "not_offered"; readonly why: string }
  /** Offered but broken: the finding is in `findings` under rendezvous-2024.create. */
  | { readonly kind: "broken" };

/** `W/"x"` → `"x"`: what a client must send back (the server compares the strong form). */
export function strongForm(etag: string): string {
  return etag.trim().replace(/^W\//i, "");
}

/** Why an answer's ETag is not what matrix-js-sdk needs, or null. */
export function etagProblem(a: Answer, what: string): { summary: string; fix: string } | null {
  const e = a.headers.get("etag");
  if (e === null) return { summary: `${what} has no ETag header: Element stops ("ETag missing")`, fix: FIX.etagMissing };
  if (/^W\//i.test(e.trim())) {
    const enc = a.headers.get("content-encoding");
    return {
      summary: `${what} carries a weak ETag (${e})${enc && enc !== "identity" ? `, and was ${enc}-compressed on the way` : ""}: Element sends it back in If-Match and every write is refused with 412`,
      fix: FIX.weakEtag,
    };
  }
  if (!/^"[^"]*"$/.test(e.trim())) return { summary: `${what} carries a malformed ETag (${e})`, fix: FIX.etagMissing };
  return null;
}

/**
 * A POST that follows delegation as fetch does for matrix-js-sdk: 307/308 keep the method and body.
 * `originAfterCrossRedirect`: the Origin a browser sends once a redirect crossed origins ("null").
 */
export async function post2024(ctx: DoctorContext, body: string, headers: Record<string, string> = {}, originAfterCrossRedirect?: string): Promise<{ hops: Answer[] } | ProbeError> {
  const hops: Answer[] = [];
  let url = ctx.url(MSC4108_PATH);
  const seen = new Set([url]);
  let sent = headers;
  for (;;) {
    let a: Answer;
    try {
      a = await ctx.prober.request(url, { method: "POST", headers: { "content-type": "text/plain", ...ctx.authHeaders(), ...sent }, body });
    } catch (err) {
      if (err instanceof ProbeError) return err;
      throw err;
    }
    hops.push(a);
    const location = a.headers.get("location");
    if ((a.status !== 307 && a.status !== 308) || location === null || hops.length > 3) return { hops };
    const next = new URL(location, url).href;
    if (originAfterCrossRedirect !== undefined && new URL(next).origin !== new URL(url).origin) sent = { ...sent, origin: originAfterCrossRedirect };
    url = next;
    if (seen.has(url)) return new ProbeError("redirect_loop", a.url, `the delegation redirect loops back to ${url}`);
    seen.add(url);
  }
}

function randomText(prefix: string): string {
  return `${prefix} ${crypto.randomUUID()}`;
}

/** POST a session and check that its URL can be used: rendezvous-2024.create. */
export async function create2024(ctx: DoctorContext, advertised: boolean, f: Findings): Promise<Api2024> {
  const id: CheckId = "rendezvous-2024.create";
  ctx.running(id, `POST ${MSC4108_PATH}`);
  const sent = randomText("qr-login doctor");
  const r = await post2024(ctx, sent);
  if (r instanceof ProbeError) {
    f.fail(id, `POST ${MSC4108_PATH}: ${r.message}`, r.kind === "redirect_loop" ? FIX.redirectLoop : FIX.route2024(""));
    return { kind: "broken" };
  }
  const a = r.hops.at(-1)!;
  const delegatedTo = r.hops.length > 1 ? new URL(a.url).origin : null;
  const where = delegatedTo ? ` (delegated to ${delegatedTo})` : "";
  if (a.status === 301 || a.status === 302 || a.status === 303) {
    f.fail(id, `POST ${MSC4108_PATH} answered ${a.status} → ${a.headers.get("location")}: browsers and matrix-js-sdk repeat it as a GET`, FIX.redirectMethod);
    return { kind: "broken" };
  }
  if (a.status === 404 || a.status === 405) {
    const byHomeserver = isMatrixJson(a);
    if (!advertised) return { kind: "not_offered", why: `/versions does not list it and POST ${MSC4108_PATH} answers ${describe(a)}` };
    f.fail(id, `/versions lists org.matrix.msc4108, but POST ${MSC4108_PATH}${where} answers ${describe(a)}${byHomeserver ? " (a homeserver process that does not serve it: a worker?)" : " (from the proxy, not the homeserver)"}`,
      FIX.route2024("The path is not routed to the process that serves it."));
    return { kind: "broken" };
  }
  if (a.status === 401 || a.status === 403) return { kind: "authenticated", answer: a };
  if (a.status === 429) {
    f.warn(id, `POST ${MSC4108_PATH}${where} was rate limited (429): try again in a minute`, "Nothing to change if this was a one-off; otherwise raise the rendezvous server's create limit.");
    return { kind: "broken" };
  }
  if (a.status !== 201 && a.status !== 200) {
    f.fail(id, `POST ${MSC4108_PATH}${where} answered ${describe(a)}`, isHtml(a) || !isMatrixJson(a) ? FIX.route2024("The answer is not the homeserver's.") : FIX.route2024("The homeserver refuses the create."));
    return { kind: "broken" };
  }
  const url = a.json?.["url"];
  if (typeof url !== "string") {
    f.fail(id, `POST ${MSC4108_PATH}${where} answered ${a.status} without a "url" in a JSON body: Element says "No rendezvous URL given"`, FIX.route2024("The answer is not the rendezvous server's."));
    return { kind: "broken" };
  }
  let sessionUrl: URL;
  try {
    sessionUrl = new URL(url);
  } catch {
    f.fail(id, `the session URL "${url.slice(0, 100)}" is not an absolute URL`, FIX.publicBaseUrl);
    return { kind: "broken" };
  }
  ctx.sessions.add(sessionUrl.href);
  const created: Created2024 = { url: sessionUrl.href, post: a, sent, delegatedTo, longPoll: parseLongPoll(a.json) };
  const postOrigin = new URL(a.url);
  if (postOrigin.protocol === "https:" && sessionUrl.protocol === "http:") {
    f.fail(id, `the session URL ${sessionUrl.href} is plain http while the homeserver is https: browsers block it (mixed content) and Element X refuses cleartext`, FIX.publicBaseUrl);
    return { kind: "created", created };
  }
  if (sessionUrl.protocol === "http:" && !isLoopbackHost(sessionUrl.hostname)) {
    f.fail(id, `the session URL ${sessionUrl.href} is plain http`, FIX.publicBaseUrl);
    return { kind: "created", created };
  }
  // The URL must lead back to a rendezvous server the client can reach.
  let first: Answer;
  try {
    first = await ctx.prober.request(sessionUrl.href);
  } catch (err) {
    if (!(err instanceof ProbeError)) throw err;
    const other = sessionUrl.origin !== postOrigin.origin ? `: it names ${sessionUrl.origin}, while the POST went to ${postOrigin.origin}` : "";
    f.fail(id, `the session URL ${sessionUrl.href} cannot be reached (${err.message})${other}`, FIX.publicBaseUrl);
    return { kind: "created", created };
  }
  if (!isMatrixJson(first) && first.status >= 400) {
    const synapsePath = sessionUrl.pathname.startsWith("/_synapse/client/");
    f.fail(id, `GET on the session URL ${sessionUrl.href} answered ${describe(first)}: it does not reach the rendezvous server`, synapsePath ? FIX.sessionUrlPath : FIX.publicBaseUrl);
    return { kind: "created", created };
  }
  const ttl = lifetimeS(a);
  f.saw(id, `POST ${MSC4108_PATH} → ${a.status}${where}, session URL on ${sessionUrl.origin}${ttl !== null ? `, lifetime ${ttl} s` : ""}`);
  return { kind: "created", created };
}

/** Expires − Date of an answer, in whole seconds, or null. */
export function lifetimeS(a: Answer): number | null {
  const expires = Date.parse(a.headers.get("expires") ?? "");
  const date = Date.parse(a.headers.get("date") ?? "");
  return Number.isNaN(expires) || Number.isNaN(date) ? null : Math.round((expires - date) / 1000);
}

/** The rest of the session's life: reads, conditional requests, a 4 KiB write, delete. */
export async function walk2024(ctx: DoctorContext, created: Created2024, f: Findings, body: Findings): Promise<void> {
  try {
    await walk(ctx, created, f, body);
  } catch (err) {
    if (err instanceof WalkStopped) return;
    if (err instanceof ProbeError) {
      f.fail("rendezvous-2024.consistent", `a request to the session failed: ${err.message}`, FIX.unreachable(new URL(created.url).host));
      f.stoppedBecause ??= `a request to the session failed (${err.message})`;
      return;
    }
    throw err;
  }
}

async function walk(ctx: DoctorContext, created: Created2024, f: Findings, bodySize: Findings): Promise<void> {
  const { url } = created;
  const get = (headers: Record<string, string> = {}) => ctx.prober.request(url, { headers });
  const put = (ifMatch: string, data: string) => ctx.prober.request(url, { method: "PUT", headers: { "content-type": "text/plain", "if-match": ifMatch }, body: data });
  const p0 = created.post;
  const e = etagProblem(p0, "the POST's answer");
  if (e) f.fail("rendezvous-2024.etag", e.summary, e.fix);
  else f.saw("rendezvous-2024.etag");
  const sent0 = created.sent;

  ctx.running("rendezvous-2024.consistent", "reading the session 3 times");
  let etag = p0.headers.get("etag") !== null ? strongForm(p0.headers.get("etag")!) : null;
  const reads0 = await reads(ctx, url, 3);
  etag = checkReads(f, reads0, sent0, etag, "before any write");
  if (etag === null) f.stop("the session's answers carry no ETag, so no conditional request can be made");

  ctx.running("rendezvous-2024.conditional", "If-None-Match with the current ETag");
  const nm = await get({ "if-none-match": etag });
  if (nm.status === 304) {
    f.saw("rendezvous-2024.conditional");
    const e304 = etagProblem(nm, "the 304 answer");
    if (e304) f.fail("rendezvous-2024.etag", e304.summary, e304.fix);
  } else if (nm.status === 200) {
    f.fail("rendezvous-2024.conditional", "a GET with the current ETag in If-None-Match got 200 instead of 304: If-None-Match does not reach the server (Element then downloads every poll)", FIX.conditional);
  } else checkReads(f, [nm], sent0, etag, "with If-None-Match");

  ctx.running("rendezvous-2024.conditional", "PUT with If-Match");
  const sent1 = randomText("qr-login doctor write");
  const w1 = await put(etag, sent1);
  const etag1 = afterWrite(f, w1, etag, "a PUT with the current ETag");
  if (etag1 === null) f.stop("the first write was refused");

  ctx.running("rendezvous-2024.consistent", "reading the session 3 times after a write");
  checkReads(f, await reads(ctx, url, 3), sent1, etag1, "after a write", sent0);

  const stale = await put(etag, randomText("qr-login doctor stale write"));
  let current = etag1;
  if (stale.status === 412) f.saw("rendezvous-2024.conditional");
  else if (stale.status >= 200 && stale.status < 300) {
    f.fail("rendezvous-2024.conditional", "a PUT with an outdated ETag in If-Match was accepted: If-Match does not reach the server, so a second device's write can silently replace the first", FIX.conditional);
    current = stale.headers.get("etag") !== null ? strongForm(stale.headers.get("etag")!) : current;
  } else if (stale.status === 400) {
    f.fail("rendezvous-2024.conditional", `a PUT with If-Match got ${describe(stale)}: the header does not reach the server`, FIX.conditional);
  } else checkReads(f, [stale], null, null, "a PUT with an outdated ETag");

  const old = await get({ "if-none-match": etag });
  if (old.status === 304) f.fail("rendezvous-2024.conditional", "a GET naming an outdated ETag in If-None-Match got 304: the reader never sees the new payload (a cache answers?)", FIX.noCache);
  else f.saw("rendezvous-2024.conditional");

  ctx.running("rendezvous.body-size", `PUT of ${MAX_2024_BODY_BYTES} bytes`);
  const big = "x".repeat(MAX_2024_BODY_BYTES);
  const wb = await put(current, big);
  if (wb.status >= 200 && wb.status < 300) {
    const back = await get();
    if (back.status === 200 && back.text === big) bodySize.saw("rendezvous.body-size", `2024: a ${MAX_2024_BODY_BYTES}-byte PUT and its GET went through`);
    else if (back.status === 200 && (back.text === sent0 || back.text === sent1)) {
      // The write went through; the read was answered from a cache (a consistency matter).
      bodySize.saw("rendezvous.body-size", `2024: a ${MAX_2024_BODY_BYTES}-byte PUT was accepted`);
      f.fail("rendezvous-2024.consistent", "a GET after a write returned the payload as it was before the write: a cache answered", FIX.noCache);
    } else bodySize.fail("rendezvous.body-size", `2024: after a ${MAX_2024_BODY_BYTES}-byte PUT the GET answered ${describe(back)} with ${back.text.length} bytes`, FIX.proxyBody);
  } else if (wb.status === 413) {
    bodySize.fail("rendezvous.body-size", `2024: a ${MAX_2024_BODY_BYTES}-byte PUT was refused with ${describe(wb)}${isMatrixJson(wb) ? " by the rendezvous server" : " by the proxy"}`, isMatrixJson(wb) ? FIX.serverBody : FIX.proxyBody);
  } else bodySize.fail("rendezvous.body-size", `2024: a ${MAX_2024_BODY_BYTES}-byte PUT answered ${describe(wb)}`, FIX.proxyBody);

  ctx.running("rendezvous-2024.consistent", "DELETE, then GET");
  const del = await ctx.prober.request(url, { method: "DELETE" });
  if (del.status >= 200 && del.status < 300) {
    ctx.sessions.deleted(url);
    const gone = await get();
    if (gone.status === 404) f.saw("rendezvous-2024.consistent");
    else f.fail("rendezvous-2024.consistent", `after DELETE (${del.status}) a GET still answered ${describe(gone)}: a cache or another backend serves deleted sessions`, FIX.noCache);
  } else f.fail("rendezvous-2024.consistent", `DELETE on the session answered ${describe(del)}`, FIX.route2024("The DELETE does not reach the rendezvous server."));
}

async function reads(ctx: DoctorContext, url: string, n: number): Promise<Answer[]> {
  const out: Answer[] = [];
  // One after the other, as a polling client: a round-robin balancer then hits every backend.
  for (let i = 0; i < n; i++) out.push(await ctx.prober.request(url));
  return out;
}

/** Reads of an unchanged session: all 200 with `expected` and one ETag. Returns the ETag they carry. */
function checkReads(f: Findings, answers: readonly Answer[], expected: string | null, etag: string | null, when: string, previous?: string): string | null {
  let seen = etag;
  answers.forEach((a, i) => {
    const which = answers.length > 1 ? `the ${ordinal(i + 1)} of ${answers.length} GETs ${when}` : `a GET ${when}`;
    if (a.status === 404 && isMatrixJson(a)) {
      f.fail("rendezvous-2024.consistent", `${which} answered ${describe(a)}: it reached a server that does not have the session`, FIX.noSharedSessions);
      return;
    }
    if (a.status !== 200) {
      f.fail("rendezvous-2024.consistent", `${which} answered ${describe(a)}`, isMatrixJson(a) ? FIX.noSharedSessions : FIX.route2024("The proxy answers instead of the homeserver."));
      return;
    }
    const type = a.headers.get("content-type");
    if (type === "text/plain") f.saw("rendezvous-2024.content-type");
    else f.fail("rendezvous-2024.content-type", `a payload came back as Content-Type ${type === null ? "(none)" : `"${type}"`}, not exactly "text/plain": matrix-js-sdk ignores it and the sign-in stalls at "establishing a secure connection"`, FIX.contentType);
    const e = etagProblem(a, "a GET's answer");
    if (e) f.fail("rendezvous-2024.etag", e.summary, e.fix);
    else f.saw("rendezvous-2024.etag");
    if (expected !== null && a.text !== expected) {
      const stale = previous !== undefined && a.text === previous;
      f.fail("rendezvous-2024.consistent", `${which} returned ${stale ? "the payload as it was before the write: a cache answered" : "a different payload than was written"}`, stale ? FIX.noCache : FIX.noSharedSessions);
      return;
    }
    const got = a.headers.get("etag");
    if (got !== null) {
      const strong = strongForm(got);
      if (seen !== null && strong !== seen) f.fail("rendezvous-2024.consistent", `${which} carried ETag ${got}, not ${seen}: the session's version differs between answers`, FIX.noSharedSessions);
      seen ??= strong;
    }
    f.saw("rendezvous-2024.consistent");
  });
  return seen;
}

/** A write's answer: its new (strong) ETag, or null when the write did not land. */
function afterWrite(f: Findings, a: Answer, before: string, what: string): string | null {
  if (a.status >= 200 && a.status < 300) {
    const e = etagProblem(a, "the PUT's answer");
    if (e) {
      f.fail("rendezvous-2024.etag", e.summary, e.fix);
      if (a.headers.get("etag") === null) return null;
    }
    const next = strongForm(a.headers.get("etag")!);
    if (next === before) f.fail("rendezvous-2024.etag", "the ETag did not change when the payload did: readers cannot see the new payload", FIX.etagMissing);
    f.saw("rendezvous-2024.conditional");
    return next;
  }
  if (a.status === 412) {
    f.fail("rendezvous-2024.conditional", `${what} was refused with 412: the ETag clients receive is not the one the server compares (rewritten on the way, or another backend answered)`, FIX.conditional);
  } else if (a.status === 400 && errcodeOf(a) === "M_MISSING_PARAM") {
    f.fail("rendezvous-2024.conditional", `${what} got ${describe(a)}: If-Match does not reach the server`, FIX.conditional);
  } else if (a.status === 404) {
    f.fail("rendezvous-2024.consistent", `${what} answered ${describe(a)}: it reached a server that does not have the session`, isMatrixJson(a) ? FIX.noSharedSessions : FIX.route2024("The PUT does not reach the rendezvous server."));
  } else {
    f.fail("rendezvous-2024.consistent", `${what} answered ${describe(a)}`, isMatrixJson(a) ? FIX.noSharedSessions : FIX.route2024("The PUT does not reach the rendezvous server."));
  }
  return null;
}
