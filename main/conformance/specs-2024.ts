// The msc4108.* cases: the 2024 rendezvous API (ETags) as Synapse serves it and matrix-js-sdk's
// MSC4108RendezvousSession uses it. No MSC text fixes this API any more (MSC4108 moved to MSC4388's
// channel), so its rules are what Element's clients rely on; "js-sdk" marks a rule a client
// actually breaks on.
import type { Reply } from "./http.js";
import { body, contains, equal, fail, matches, notEqual, ok, show, status } from "./check.js";
import type { CaseSpec, SpecTable } from "./spec.js";
import { deleteSession2024, putFooBaz2024 } from "./spec.js";

/** A strong entity tag: a weak one (W/"…", from a compressing proxy) breaks If-Match. */
const STRONG_ETAG = /^"[!#-~]+"$/;

/** What every 2024 answer about a session carries (Synapse's test asserts the same set). */
function sessionHeaders(r: Reply): void {
  const etag = r.headers.get("etag");
  // The usual cause, named: a proxy that compresses (nginx gzip) weakens the tag, and a client that
  // sends it back in If-Match gets 412 from a server that compares strongly (synapse#18178).
  if (etag?.startsWith("W/")) fail(`header ETag: weak (${etag}), as a compressing proxy makes it; clients send it back in If-Match and get 412`);
  matches(etag, STRONG_ETAG, "header ETag (strong)");
  ok(!Number.isNaN(Date.parse(r.headers.get("expires") ?? "")), `header Expires: expected an HTTP date, got ${show(r.headers.get("expires") ?? undefined)}`);
  ok(!Number.isNaN(Date.parse(r.headers.get("last-modified") ?? "")), `header Last-Modified: expected an HTTP date, got ${show(r.headers.get("last-modified") ?? undefined)}`);
  equal(r.headers.get("access-control-allow-origin"), "*", "header Access-Control-Allow-Origin");
  contains(r.headers.get("access-control-expose-headers"), "etag", "header Access-Control-Expose-Headers");
  contains(r.headers.get("cache-control"), "no-store", "header Cache-Control");
  contains(r.headers.get("cache-control"), "no-transform", "header Cache-Control");
  contains(r.headers.get("pragma"), "no-cache", "header Pragma");
}

function contentLength(r: Reply): void {
  equal(r.headers.get("content-length"), String(r.bytes.length), "header Content-Length");
}

/** A GET that finds a payload: its ETag, the Content-Type exactly text/plain (js-sdk compares the string), its body. */
function payload(r: Reply, etag: string | undefined, text: string): void {
  equal(r.headers.get("etag"), etag, "header ETag");
  equal(r.headers.get("content-type"), "text/plain", "header Content-Type");
  equal(r.text, text, "body");
}

const capacity = (rule: string, more: (cap: number) => number): CaseSpec => ({
  rule,
  needs: "capped",
  setup: async (ctx) => {
    const statuses: number[] = [];
    for (let i = 0; i < more(ctx.sessionCap); i++) statuses.push((await ctx.call("POST", ctx.prefix, `more-${i}`, { "Content-Type": "text/plain" })).status);
    const want = statuses.map((_s, i) => (i < ctx.sessionCap - 1 ? 201 : 429));
    equal(statuses.join(","), want.join(","), "setup: statuses of the creates up to and beyond the cap");
    const refused = await ctx.call("POST", ctx.prefix, "more", { "Content-Type": "text/plain" });
    equal(body(refused).errcode, "M_LIMIT_EXCEEDED", "setup create beyond the cap: body.errcode");
    ok(Number(refused.headers.get("retry-after")) >= 1, "setup create beyond the cap: no Retry-After");
    await ctx.elapse(1000);
  },
  expect: { status: 200, errcode: null, why: "no eviction: at the cap new creates get 429 and session A stays readable (Synapse evicts A)" },
  check: (r) => equal(r.text, "foo=bar", "body"),
});

export const SPECS_2024: SpecTable = {
  "msc4108.disabled.post": { rule: "with the 2024 API off, its POST answers 404 M_UNRECOGNIZED", needs: "off", check: (r) => equal(body(r).errcode, "M_UNRECOGNIZED", "body.errcode") },
  "msc4108.delegation.post": {
    rule: "the homeserver's 2024 POST: a delegating server redirects (307 + Location) before reading the body; a serving one refuses a body that is not text/plain (400 M_INVALID_PARAM)",
    url: (ctx) => `${ctx.base}/_matrix/client/unstable/org.matrix.msc4108/rendezvous`,
    expect: { status: [307, 308, 400], errcode: null, why: "Synapse's test configures a delegation (307); a server that serves the API itself answers the JSON body with 400" },
    check: (r, ctx) => {
      if (r.status === 400) { equal(body(r).errcode, "M_INVALID_PARAM", "body.errcode"); return "serves the 2024 API itself"; }
      const location = r.headers.get("location");
      if (!location) fail(`a ${r.status} without Location`);
      equal(new URL(location, ctx.base + "/").href, ctx.prefix, "header Location (where the API was found)");
      return `delegates to ${location}`;
    },
  },
  "msc4108.create": {
    rule: "POST text/plain creates a session: 201 {url} (absolute), strong ETag, Expires, Last-Modified, Content-Length, no-store and no-transform, CORS exposing ETag",
    check: (r, ctx) => {
      const url = body(r).url;
      if (typeof url !== "string") fail(`body.url: expected a string, got ${show(url)}`);
      let parsed: URL;
      try { parsed = new URL(url); } catch { fail(`body.url: expected an absolute URL, got ${show(url)}`); }
      ok(parsed.protocol === "https:" || (parsed.protocol === "http:" && ctx.prefix.startsWith("http:")), `body.url: an ${parsed.protocol} URL from a server reached over ${new URL(ctx.prefix).protocol}`);
      ok(parsed.pathname.length > 1, `body.url: no session path in ${show(url)}`);
      sessionHeaders(r);
      matches(r.headers.get("content-type"), /^application\/json/, "header Content-Type");
      contentLength(r);
      const location = r.headers.get("location");
      if (location !== null) equal(location, url, "header Location (when sent, the session URL)");
      const lifetime = Date.parse(r.headers.get("expires")!) - Date.parse(r.headers.get("date") ?? r.headers.get("last-modified")!);
      ok(lifetime > 0, `header Expires: not after Date (${r.headers.get("expires")} vs ${r.headers.get("date")})`);
      return `lifetime ${Math.round(lifetime / 1000)} s`;
    },
  },
  "msc4108.get": {
    rule: "GET returns the payload with the POST's ETag and Content-Type exactly text/plain (js-sdk compares the string)",
    check: (r, ctx) => {
      sessionHeaders(r);
      payload(r, ctx.vars.etag, "foo=bar");
      contentLength(r);
    },
  },
  "msc4108.get-if-none-match-current": {
    rule: "GET with If-None-Match: the current ETag answers 304 with that ETag and no body",
    check: (r, ctx) => { sessionHeaders(r); equal(r.headers.get("etag"), ctx.vars.etag, "header ETag"); equal(r.text, "", "body"); },
  },
  "msc4108.put-if-match-current": {
    rule: "PUT with If-Match: the current ETag answers 202 with a new strong ETag",
    check: (r, ctx) => {
      sessionHeaders(r);
      notEqual(r.headers.get("etag"), ctx.vars.etag, "header ETag");
      equal(r.headers.get("content-length"), "0", "header Content-Length");
    },
  },
  "msc4108.put-if-match-stale": {
    rule: "PUT with a stale If-Match is refused: 412 naming M_CONCURRENT_WRITE (in errcode or org.matrix.msc4108.errcode)",
    setup: putFooBaz2024,
    expect: { status: 412, errcode: null, why: "Synapse sends errcode M_UNKNOWN with org.matrix.msc4108.errcode M_CONCURRENT_WRITE; the MSC's code in either field is what a client can read" },
    check: (r) => {
      const codes = [body(r).errcode, body(r)["org.matrix.msc4108.errcode"]];
      ok(codes.includes("M_CONCURRENT_WRITE"), `body: M_CONCURRENT_WRITE in neither errcode nor org.matrix.msc4108.errcode (got ${show(codes)})`);
    },
  },
  "msc4108.get-if-none-match-stale": {
    rule: "after a write, GET with the old ETag returns the new payload and ETag",
    setup: putFooBaz2024,
    check: (r, ctx) => payload(r, ctx.vars.etag2, "foo=baz"),
  },
  "msc4108.delete": {
    rule: "DELETE answers 204 with CORS",
    check: (r) => { equal(r.headers.get("access-control-allow-origin"), "*", "header Access-Control-Allow-Origin"); equal(r.text, "", "body"); },
  },
  "msc4108.get-after-delete": { rule: "after DELETE, GET answers 404 M_NOT_FOUND", setup: deleteSession2024 },
  "msc4108.expiry": {
    rule: "after Expires, GET answers 404 M_NOT_FOUND",
    slow: true,
    setup: async (ctx) => {
      const before = await ctx.call("GET", ctx.vars.session!);
      status(before, 200, "GET before the expiry");
      equal(before.text, "foo=bar", "GET before the expiry: body");
      await ctx.elapse(ctx.createdExpiresInMs! + 1000);
    },
    check: (r) => equal(body(r).errcode, "M_NOT_FOUND", "body.errcode"),
  },
  "msc4108.capacity.soft": capacity("at its cap on live sessions the server refuses new ones (429) and keeps the live ones (qr-login's rule; Synapse evicts)", (cap) => cap),
  "msc4108.capacity.hard": capacity("creates far beyond the cap are refused (429, Retry-After) and never evict a live session (qr-login's rule; Synapse evicts)", (cap) => cap + 2),
  "msc4108.create-form-content-type": { rule: "POST with a Content-Type other than text/plain: 400 M_INVALID_PARAM" },
  "msc4108.put-form-content-type": { rule: "PUT with a Content-Type other than text/plain: 400 M_INVALID_PARAM" },
  "msc4108.code.put-missing-if-match": { rule: "PUT without If-Match: 400 M_MISSING_PARAM (an unconditional write would defeat the compare-and-swap)" },
  "msc4108.code.create-too-large": { rule: "a POST body over 4096 bytes: 413 M_TOO_LARGE" },
};
