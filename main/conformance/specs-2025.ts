// The msc4388.* cases (Synapse's MSC4388 tests and servlet code): how each is run and the rule it
// checks. Where Synapse's choice is one of several the MSC allows, the spec accepts each of them
// (`expect` says why); the project's own suite pins what our server answers.
import { CASES } from "./cases.js";
import { atMost, body, contains, equal, isString, matches, notEqual, ok, positiveInteger, status } from "./check.js";
import type { CaseContext, CaseSpec, SpecTable } from "./spec.js";
import { deleteSession, expectCreated, expectNoCreate, expectPayload, putFooBaz, sessionOf } from "./spec.js";

/** The MSC's opaque identifier grammar, for ids and sequence tokens. */
const OPAQUE_ID = /^[0-9A-Za-z._~-]{1,255}$/;
/** The MSC's upper bound on a session's lifetime. */
const MAX_TTL_MS = 300_000;

const precedingPlainGet = async (ctx: CaseContext) => { status(await ctx.call("GET", sessionOf(ctx)), 200, "precondition: a GET without Sec-Fetch headers"); };

/** Every Sec-Fetch case: the header it sends, as its rule. */
function secFetchSpecs(): SpecTable {
  const specs: Record<string, CaseSpec> = {};
  for (const c of CASES.filter((x) => x.name.startsWith("msc4388.sec-fetch.reject."))) {
    const [name, value] = Object.entries(c.headers)[0]!;
    specs[c.name] = {
      rule: `a GET with ${name}: ${value} (a browser navigation or sub-resource load, not fetch()) is refused: 403 M_FORBIDDEN (MSC: unsafe content)`,
      setup: precedingPlainGet,
    };
  }
  return specs;
}

function dataTypeSpecs(): SpecTable {
  const specs: Record<string, CaseSpec> = {};
  for (const c of CASES.filter((x) => x.name.startsWith("msc4388.data-type."))) {
    const kind = c.name.split("-").at(-1);
    specs[c.name] = { rule: `${c.method} with data as a JSON ${kind} is refused: 400 M_INVALID_PARAM (data is a string)`, data: "test" };
  }
  return specs;
}

/** The malformed-request codes of the Matrix spec; the MSC names none for these requests. */
const MALFORMED = ["M_INVALID_PARAM", "M_BAD_JSON", "M_NOT_JSON", "M_MISSING_PARAM"];
const malformed = (what: string) => ({ status: 400, errcode: MALFORMED, why: `the MSC names no errcode for ${what}; any of the Matrix spec's malformed-request codes will do (Synapse: M_INVALID_PARAM)` });

/** 403 M_FORBIDDEN or 404 M_NOT_FOUND, each with its own code: the order of the checks is the server's choice. */
function forbiddenOrNotFound(other: [number, string]) {
  return (r: { status: number; json: Record<string, unknown> | null }) => {
    const want = r.status === 404 ? "M_NOT_FOUND" : other[1];
    equal(r.json?.errcode, want, `body.errcode of the ${r.status}`);
    return r.status === 404 ? "looks the session up first (404)" : `checks before the lookup (${other[0]})`;
  };
}

export const SPECS_2025: SpecTable = {
  "msc4388.disabled.post": { rule: "with the API off, POST on the prefix answers 404 (M_UNRECOGNIZED)", needs: "off" },
  "msc4388.off.discovery": { rule: "with the API off, discovery answers 404 (M_UNRECOGNIZED)", needs: "off" },
  "msc4388.off.create": { rule: "with the API off, POST answers 404 (M_UNRECOGNIZED)", needs: "off" },

  "msc4388.open.discovery.unauthenticated": {
    rule: "discovery (GET on the prefix) without a token: 200 {create_available: true} where anyone may create",
    check: (r) => equal(body(r).create_available, true, "body.create_available"),
  },
  "msc4388.open.create": { rule: "POST {data} creates a session: 200 {id, sequence_token, expires_in_ms}", check: (r) => expectCreated(r) },
  "msc4388.open.get-after-create": {
    rule: "GET returns the POSTed data, the POST's sequence_token and expires_in_ms",
    check: (r, ctx) => { expectPayload(r, "foo=bar", ctx.vars.seq0); positiveInteger(body(r).expires_in_ms, "body.expires_in_ms"); },
  },
  "msc4388.open.put-current-token": {
    rule: "PUT with the current sequence_token is accepted: 200 with a new sequence_token",
    check: (r, ctx) => { isString(body(r).sequence_token, "body.sequence_token"); notEqual(body(r).sequence_token, ctx.vars.seq0, "body.sequence_token"); },
  },
  "msc4388.open.put-stale-token-different-data": {
    rule: "PUT with a stale sequence_token and other data is a concurrent write: 409 M_CONCURRENT_WRITE (unstable: IO_ELEMENT_MSC4388_CONCURRENT_WRITE)",
    setup: putFooBaz,
  },
  "msc4388.open.get-after-put": {
    rule: "a refused write changes nothing: GET returns the last accepted data and its sequence_token",
    setup: async (ctx) => { await putFooBaz(ctx); status(await ctx.put(ctx.vars.seq0!, "bar=baz"), 409, "setup PUT with a stale token"); },
    check: (r, ctx) => { expectPayload(r, "foo=baz", ctx.vars.seq1); positiveInteger(body(r).expires_in_ms, "body.expires_in_ms"); },
  },
  "msc4388.open.delete": { rule: "DELETE cancels the session: 200" },
  "msc4388.open.get-after-delete": { rule: "after DELETE, GET answers 404 M_NOT_FOUND", setup: deleteSession },

  "msc4388.idempotent.replay-previous-token-same-data": {
    rule: "a PUT repeated after it succeeded (same token, same data) is acknowledged again: 200 with the current token, no new one",
    setup: putFooBaz,
    check: (r, ctx) => equal(body(r).sequence_token, ctx.vars.seq1, "body.sequence_token"),
  },
  "msc4388.idempotent.previous-token-different-data": { rule: "the previous token with other data is a concurrent write: 409", setup: putFooBaz },
  "msc4388.idempotent.state-unchanged-after-replays": {
    rule: "an idempotent replay and a refused write leave the session as it was",
    setup: async (ctx) => {
      await putFooBaz(ctx);
      equal(body(await ctx.put(ctx.vars.seq0!, "foo=baz")).sequence_token, ctx.vars.seq1, "setup replay: body.sequence_token");
      status(await ctx.put(ctx.vars.seq0!, "something=else"), 409, "setup PUT with a stale token and other data");
    },
    check: (r, ctx) => expectPayload(r, "foo=baz", ctx.vars.seq1),
  },

  "msc4388.auth.discovery-no-token": {
    rule: "discovery without a token where creating needs one: 200 {create_available: false} or 403 M_FORBIDDEN",
    needs: "authenticated",
    expect: { status: [200, 403], errcode: null, why: "MSC: 200 create_available:false or 403 M_FORBIDDEN to a requester who may not create; Synapse's 401 makes the js-sdk POC throw" },
    check: expectNoCreate,
  },
  "msc4388.auth.create-no-token": {
    rule: "where creating needs a token, POST without one is refused: 401 M_MISSING_TOKEN",
    needs: "authenticated",
    check: (r) => equal(body(r).errcode, "M_MISSING_TOKEN", "body.errcode"),
  },
  "msc4388.auth.discovery-with-token": {
    rule: "discovery with a valid token: 200 {create_available: true}",
    needs: "authenticated",
    check: (r) => equal(body(r).create_available, true, "body.create_available"),
  },
  "msc4388.auth.create-with-token": { rule: "POST with a valid token creates a session", needs: "authenticated", check: (r) => expectCreated(r) },
  "msc4388.auth.get-without-token": {
    rule: "GET needs no token, in any mode (the id is the capability)",
    needs: "authenticated",
    check: (r, ctx) => expectPayload(r, "foo=bar", ctx.vars.seq0),
  },
  "msc4388.auth.put-without-token": {
    rule: "PUT needs no token, in any mode",
    needs: "authenticated",
    check: (r, ctx) => notEqual(body(r).sequence_token, ctx.vars.seq0, "body.sequence_token"),
  },
  "msc4388.auth.get-after-put-without-token": {
    rule: "a write without a token is what the next GET returns",
    needs: "authenticated",
    setup: putFooBaz,
    check: (r, ctx) => expectPayload(r, "foo=baz", ctx.vars.seq1),
  },
  "msc4388.auth.delete-without-token": { rule: "DELETE needs no token, in any mode", needs: "authenticated" },
  "msc4388.auth.get-after-delete": { rule: "after a DELETE without a token, GET answers 404 M_NOT_FOUND", needs: "authenticated", setup: deleteSession },

  "msc4388.expiry.get-before-ttl": { rule: "before expires_in_ms has passed, GET returns the session", check: (r) => equal(body(r).data, "foo=bar", "body.data") },
  "msc4388.expiry.get-at-ttl": {
    rule: "once expires_in_ms has passed, GET answers 404 M_NOT_FOUND (MSC: any later query fails)",
    slow: true,
    setup: async (ctx) => ctx.elapse(ctx.createdExpiresInMs!),
  },
  // Synapse evicts the oldest live sessions when full; a server may refuse new ones instead, which
  // keeps sign-ins in progress alive. Only run where the cap is known (the project's own suite).
  "msc4388.capacity.soft-limit-eviction": {
    rule: "at its cap on live sessions a server refuses new ones (429 M_LIMIT_EXCEEDED) and keeps the live ones (qr-login's rule; Synapse evicts the oldest)",
    needs: "capped",
    slow: true,
    setup: async (ctx) => {
      for (let i = 1; i < ctx.sessionCap; i++) status(await ctx.call("POST", ctx.prefix, { data: `more-${i}` }), 200, `setup create ${i + 1} of ${ctx.sessionCap}`);
      const refused = await ctx.call("POST", ctx.prefix, { data: "one too many" });
      status(refused, 429, "setup create beyond the cap");
      equal(body(refused).errcode, "M_LIMIT_EXCEEDED", "setup create beyond the cap: body.errcode");
      await ctx.elapse(60_000);
    },
    expect: { status: 200, errcode: null, why: "no eviction: at the cap new creates get 429 and session A stays readable (Synapse evicts A)" },
    check: (r) => equal(body(r).data, "foo=bar", "body.data"),
  },
  "msc4388.capacity.hard-limit-eviction": {
    rule: "creates far beyond the cap are refused (429) and never evict a live session (qr-login's rule; Synapse evicts)",
    needs: "capped",
    setup: async (ctx) => {
      const statuses: number[] = [];
      for (let i = 0; i < ctx.sessionCap + 2; i++) statuses.push((await ctx.call("POST", ctx.prefix, { data: `more-${i}` })).status);
      const want = statuses.map((_s, i) => (i < ctx.sessionCap - 1 ? 200 : 429));
      equal(statuses.join(","), want.join(","), "setup: statuses of the creates up to and beyond the cap");
    },
    expect: { status: 200, errcode: null, why: "no eviction: creates beyond the cap get 429 and session A stays readable (Synapse evicts A)" },
    check: (r) => equal(body(r).data, "foo=bar", "body.data"),
  },

  ...dataTypeSpecs(),
  "msc4388.max-length.create-5000": { rule: "POST with data over 4096 bytes is refused: 413 M_TOO_LARGE" },
  "msc4388.max-length.put-5000": { rule: "PUT with data over 4096 bytes is refused: 413 M_TOO_LARGE", data: "test" },

  ...secFetchSpecs(),
  "msc4388.sec-fetch.allow-browser-fetch": { rule: "a cross-origin fetch() (Sec-Fetch-Dest: empty, Mode: cors, Site: cross-site) may read the session: 200" },

  "msc4388.code.create-invalid-json": { rule: "a POST body that is not JSON is refused: 400", expect: malformed("a body that is not JSON") },
  "msc4388.code.create-missing-data": { rule: "POST without data is refused: 400", expect: malformed("a missing field") },
  "msc4388.code.put-missing-sequence-token": { rule: "PUT without sequence_token is refused: 400", expect: malformed("a missing field") },
  "msc4388.code.create-empty-data": {
    rule: "empty data is data: POST {data: \"\"} creates a session and GET returns \"\" (the js-sdk POC creates with \"\")",
    check: async (r, ctx) => {
      expectCreated(r);
      const got = await ctx.call("GET", `${ctx.prefix}/${body(r).id as string}`);
      status(got, 200, "GET of the new session");
      equal(body(got).data, "", "GET: body.data");
    },
  },
  "msc4388.code.create-4096-bytes": { rule: "exactly 4096 bytes of data are allowed (the MSC's limit)", check: (r) => expectCreated(r) },
  "msc4388.code.create-4097-bytes": { rule: "4097 bytes of data are one too many: 413 M_TOO_LARGE" },
  "msc4388.code.create-multibyte-over-limit": { rule: "the limit counts UTF-8 bytes: 2049 × é (4098 bytes) is 413 M_TOO_LARGE" },
  "msc4388.code.get-unknown-id": { rule: "GET of an id never issued: 404 M_NOT_FOUND, as JSON (matrix-js-sdk reads only JSON errors)" },
  "msc4388.code.get-malformed-id": { rule: "a malformed id is an unknown session: 404 M_NOT_FOUND, not 400" },
  "msc4388.code.put-unknown-id": { rule: "PUT of an id never issued: 404 M_NOT_FOUND" },
  "msc4388.code.delete-unknown-id": { rule: "DELETE of an id never issued: 404 M_NOT_FOUND" },
  "msc4388.code.delete-twice": { rule: "a second DELETE: 404 M_NOT_FOUND (the session was cancelled by the first)", setup: deleteSession },
  "msc4388.code.put-after-delete": { rule: "after DELETE, PUT fails: 404 M_NOT_FOUND (cancelling fails every later read and write)", setup: deleteSession },
  "msc4388.code.put-after-expiry": {
    rule: "after expiry, PUT fails: 404 M_NOT_FOUND (MSC: any later update fails)",
    slow: true,
    setup: async (ctx) => ctx.elapse(ctx.createdExpiresInMs! + 1),
  },
  "msc4388.code.put-expiry-not-extended": {
    rule: "after a write the session still reports a lifetime within the MSC's bound (whether writes extend it is the server's choice)",
    setup: async (ctx) => {
      await ctx.elapse(2000);
      status(await ctx.put(ctx.vars.seq0!, "later"), 200, "setup PUT two seconds later");
    },
    check: (r, ctx) => {
      positiveInteger(body(r).expires_in_ms, "body.expires_in_ms");
      atMost(body(r).expires_in_ms, MAX_TTL_MS, "body.expires_in_ms");
      return (body(r).expires_in_ms as number) <= ctx.createdExpiresInMs! - 2000 + 50 ? "writes do not extend the lifetime" : "writes extend the lifetime";
    },
  },
  "msc4388.code.sec-fetch-before-lookup": {
    rule: "a navigation GET of an unknown id: 403 M_FORBIDDEN or 404 M_NOT_FOUND (which check comes first is the server's choice)",
    expect: { status: [403, 404], errcode: null, why: "IMPLEMENTATION-SPECIFIC order: Synapse checks Sec-Fetch first (403); 404 is as right" },
    check: forbiddenOrNotFound([403, "M_FORBIDDEN"]),
  },
  "msc4388.code.size-before-lookup": {
    rule: "an oversized PUT to an unknown id: 413 M_TOO_LARGE or 404 M_NOT_FOUND (which check comes first is the server's choice)",
    expect: { status: [413, 404], errcode: null, why: "IMPLEMENTATION-SPECIFIC order: Synapse checks the size first (413); 404 is as right" },
    check: forbiddenOrNotFound([413, "M_TOO_LARGE"]),
  },
  "msc4388.code.head-session": { rule: "HEAD of a session answers as GET, without a body", check: (r) => equal(r.text, "", "body") },
  "msc4388.code.options-preflight": {
    rule: "a CORS preflight of a PUT: 2xx, Allow-Origin *, every method and the Content-Type and Authorization headers allowed",
    expect: { status: [204, 200], errcode: null, why: "browsers take any 2xx for a preflight (Synapse: 204)" },
    check: (r) => {
      equal(r.headers.get("access-control-allow-origin"), "*", "header Access-Control-Allow-Origin");
      const methods = r.headers.get("access-control-allow-methods") ?? "";
      if (methods.trim() !== "*") for (const m of ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]) contains(methods, m, "header Access-Control-Allow-Methods");
      const allowed = r.headers.get("access-control-allow-headers") ?? "";
      if (allowed.trim() !== "*") { contains(allowed, "content-type", "header Access-Control-Allow-Headers"); contains(allowed, "authorization", "header Access-Control-Allow-Headers"); }
    },
  },
  "msc4388.code.cors-on-error": {
    rule: "errors carry Access-Control-Allow-Origin: * and are JSON, so a web client can read them (matrix-js-sdk #3168)",
    check: (r) => { equal(r.headers.get("access-control-allow-origin"), "*", "header Access-Control-Allow-Origin"); matches(r.headers.get("content-type"), /^application\/json/, "header Content-Type"); },
  },
  "msc4388.code.success-headers": {
    rule: "answers are application/json with Access-Control-Allow-Origin: * and Cache-Control: no-store",
    check: (r) => {
      matches(r.headers.get("content-type"), /^application\/json/, "header Content-Type");
      equal(r.headers.get("access-control-allow-origin"), "*", "header Access-Control-Allow-Origin");
      contains(r.headers.get("cache-control"), "no-store", "header Cache-Control");
    },
  },
  "msc4388.code.method-not-allowed-post-on-session": { rule: "POST on a session URL: 405 M_UNRECOGNIZED (Matrix spec: known path, unknown method)" },
  "msc4388.code.method-not-allowed-put-on-collection": { rule: "PUT on the prefix itself: 405 M_UNRECOGNIZED (Matrix spec: known path, unknown method)" },
  "msc4388.code.extra-path-segment": { rule: "a path below a session URL is no endpoint: 404 M_UNRECOGNIZED" },
  "msc4388.code.stable-path-not-served-by-synapse": {
    rule: "the stable prefix /_matrix/client/v1/rendezvous answers discovery, or 404 M_UNRECOGNIZED where only the unstable prefix is served",
    expect: { status: [200, 404], errcode: null, why: "the MSC is not merged yet: serving only the unstable prefix (as Synapse) is allowed; a server that serves v1 answers 200" },
    check: (r) => {
      if (r.status === 404) { equal(body(r).errcode, "M_UNRECOGNIZED", "body.errcode"); return "the stable prefix is not served"; }
      ok(typeof body(r).create_available === "boolean", `body.create_available: expected a boolean, got ${JSON.stringify(body(r).create_available)}`);
      return "the stable prefix is served";
    },
  },
  "msc4388.code.token-and-id-grammar": {
    rule: "id and sequence_token follow the opaque identifier grammar [0-9A-Za-z._~-]{1,255}",
    check: (r) => {
      matches(body(r).id as string, OPAQUE_ID, "body.id");
      matches(body(r).sequence_token as string, OPAQUE_ID, "body.sequence_token");
    },
  },
};
