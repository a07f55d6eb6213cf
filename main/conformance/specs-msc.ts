// The msc.* cases (the MSC4388 text, including where Synapse differs), recommended.* (derived) and
// jssdk.* (what matrix-js-sdk's 2025 transport branches expect of a server).
import { atLeast, atMost, body, equal, fail, isString, notEqual, ok, positiveInteger, status } from "./check.js";
import type { SpecTable } from "./spec.js";
import { expectCreated, expectNoCreate, expectPayload, expectSeq1NowAndAfter, putFooBaz } from "./spec.js";

export const SPECS_MSC: SpecTable = {
  "msc.idempotent.any-stale-token-identical-data": {
    rule: "a PUT whose data is byte-identical to the current payload succeeds with any stale token: 200 with the current token (MSC MUST; Synapse accepts only the previous token)",
    setup: putFooBaz,
    check: (r, ctx) => expectSeq1NowAndAfter(r, ctx, "GET afterwards"),
  },
  "msc.idempotent.two-generations-old-token-identical-data": {
    rule: "the idempotent retry holds for a token two writes old too: 200 with the current token (MSC MUST; Synapse: 409)",
    setup: async (ctx) => {
      status(await ctx.put(ctx.vars.seq0!, "v1", "seq1"), 200, "setup PUT v1");
      status(await ctx.put(ctx.vars.seq1!, "v2", "seq2"), 200, "setup PUT v2");
    },
    check: (r, ctx) => equal(body(r).sequence_token, ctx.vars.seq2, "body.sequence_token"),
  },
  "msc.token.changes-on-identical-rewrite": {
    rule: "the sequence_token changes on every successful write, even of the same data (MSC MUST)",
    check: async (r, ctx) => {
      const seq1 = body(r).sequence_token;
      isString(seq1, "body.sequence_token");
      notEqual(seq1, ctx.vars.seq0, "body.sequence_token");
      // and once more, so a one-off is not taken for the rule
      const again = await ctx.put(seq1, "foo=bar");
      status(again, 200, "a second identical write with the new token");
      notEqual(body(again).sequence_token, seq1, "second write: body.sequence_token");
      notEqual(body(again).sequence_token, ctx.vars.seq0, "second write: body.sequence_token");
    },
  },
  "msc.token.stable-between-writes": {
    rule: "between writes every GET returns the PUT's sequence_token byte for byte (it is part of the channel's AAD)",
    setup: putFooBaz,
    check: (r, ctx) => expectSeq1NowAndAfter(r, ctx, "second GET"),
  },
  "msc.token.post-token-equals-first-get": {
    rule: "the first GET returns the token the POST returned (the generating device's first AAD uses it)",
    check: (r, ctx) => equal(body(r).sequence_token, ctx.vars.seq0, "body.sequence_token"),
  },
  "msc.expiry.window": {
    rule: "a new session lives between 120 s and 300 s (MSC SHOULD)",
    check: (r) => { atLeast(body(r).expires_in_ms, 120_000, "body.expires_in_ms"); atMost(body(r).expires_in_ms, 300_000, "body.expires_in_ms"); },
  },

  "recommended.discovery-authenticated-mode-no-token": {
    rule: "discovery without a token where creating needs one says so without an error: 200 {create_available: false} (or 403 M_FORBIDDEN); never 401, on which the js-sdk POC throws",
    needs: "authenticated",
    expect: { status: [200, 403], errcode: null, why: "the MSC allows 403 M_FORBIDDEN too" },
    check: expectNoCreate,
  },
  "recommended.rate-limit-shape": {
    rule: "a client over the create limit gets 429 M_LIMIT_EXCEEDED saying when to retry (retry_after_ms or Retry-After)",
    needs: "rate-limited",
    // The limit is per client and shared by the prefixes: create until refused.
    setup: async (ctx) => {
      const statuses: number[] = [];
      for (let i = 0; i <= ctx.createLimit && statuses.at(-1) !== 429; i++) statuses.push((await ctx.call("POST", ctx.prefix, { data: "x" })).status);
      if (statuses.at(-1) !== 429) fail(`setup: ${statuses.length} creates in a row were never refused (statuses ${statuses.join(",")})`);
      if (statuses.some((st) => st !== 200 && st !== 429)) fail(`setup: creates answered ${statuses.join(",")}`);
    },
    check: (r) => {
      const ms = body(r).retry_after_ms;
      const header = r.headers.get("retry-after");
      ok(ms !== undefined || header !== null, "neither body.retry_after_ms nor a Retry-After header");
      if (ms !== undefined) positiveInteger(ms, "body.retry_after_ms");
      if (header !== null) atLeast(Number(header), 1, "header Retry-After");
    },
  },

  "jssdk.create-response-shape": {
    rule: "POST answers id (string), expires_in_ms (number) and sequence_token (string): matrix-js-sdk throws without id or expires_in_ms",
    check: (r) => expectCreated(r),
  },
  "jssdk.post-then-get": { rule: "GET returns what was POSTed and the POST's token", data: "foo=baa", check: (r, ctx) => expectPayload(r, "foo=baa", ctx.vars.seq0) },
  "jssdk.creator-put-with-post-token": {
    rule: "the creator may PUT with the POST's token at once: 200 with a new token",
    data: "foo=baa",
    check: (r, ctx) => { isString(body(r).sequence_token, "body.sequence_token"); notEqual(body(r).sequence_token, ctx.vars.seq0, "body.sequence_token"); },
  },
  "jssdk.scanner-put-clash": {
    rule: "a PUT with a token another party has already written with: 409",
    data: "foo=baa",
    setup: async (ctx) => { status(await ctx.put(ctx.vars.seq0!, "other"), 200, "setup: the other party's PUT"); },
  },
  "jssdk.cancel-delete": { rule: "DELETE on cancel: 200", data: "foo=baa" },
  "jssdk.create-when-disabled": { rule: "with the API off, POST answers 404 (matrix-js-sdk: not supported)", needs: "off" },
  "jssdk.get-after-expiry-404": {
    rule: "after expires_in_ms, GET answers 404 M_NOT_FOUND (matrix-js-sdk then reports the code expired)",
    slow: true,
    setup: async (ctx) => ctx.elapse(ctx.createdExpiresInMs! + 1),
  },
  "jssdk.legacy-unstable-feature-flag": {
    rule: "OPTIONAL: a homeserver's /versions is JSON (older matrix-js-sdk looked for io.element.msc4388 there); a standalone rendezvous server answers 404 M_UNRECOGNIZED",
    expect: { status: [200, 404], errcode: null, why: "OPTIONAL: /versions belongs to a homeserver; a standalone rendezvous server serves only the rendezvous paths" },
    check: (r) => {
      if (r.status === 404) { equal(body(r).errcode, "M_UNRECOGNIZED", "body.errcode"); return "no /versions: not a homeserver"; }
      ok(Array.isArray(body(r).versions), "body.versions: expected an array (a Matrix /versions answer)");
      const flags = body(r).unstable_features as Record<string, unknown> | undefined;
      return flags?.["io.element.msc4388"] === true ? "advertises io.element.msc4388" : "does not advertise io.element.msc4388 (newer clients do not need it)";
    },
  },
  "jssdk.poc.discovery-with-token": {
    rule: "discovery with a token: 200 {create_available: boolean}",
    needs: "authenticated",
    check: (r) => ok(typeof body(r).create_available === "boolean", `body.create_available: expected a boolean, got ${JSON.stringify(body(r).create_available)}`),
  },
  "jssdk.poc.put-with-authorization-header": {
    rule: "PUT needs no authentication, and a PUT carrying an Authorization header (as matrix-js-sdk's authedRequest sends) is accepted",
    check: (r, ctx) => notEqual(body(r).sequence_token, ctx.vars.seq0, "body.sequence_token"),
  },
};
