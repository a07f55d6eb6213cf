// The 2024 rendezvous API (MSC4108 as Element Web and Element X shipped it in 2024), on the same
// stores, limits and caps as the 2025 API:
//   POST <prefix>            text/plain body → 201 {"url": "<public base><prefix>/<id>"} + ETag, Expires
//   GET  <prefix>/<id>       200 body (Content-Type exactly text/plain) + ETag; 304 on If-None-Match
//   PUT  <prefix>/<id>       If-Match: the current ETag → 202 + new ETag; stale → 412 M_CONCURRENT_WRITE
//   DELETE <prefix>/<id>     204
// Clients read these answers through proxies, so every one of them carries an explicit
// Content-Length and `Cache-Control: no-store, no-transform` (Synapse #18155, fixed in Synapse
// #18178), and payload answers carry `Content-Encoding: identity`, the one signal that stops nginx's
// gzip filter, which ignores no-transform and would weaken the ETag to W/"…" (see conditional.ts
// for what we accept back). Bodies are sent as bytes with explicit headers, so fastify never
// appends `; charset=utf-8`: matrix-js-sdk compares the Content-Type with "text/plain" exactly and
// ignores a payload whose type differs.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { clientKey } from "./client-key.js";
import { httpDate, ifNoneMatchHolds, readIfMatch } from "./conditional.js";
import type { RouteContext, ScopeBasics } from "./context.js";
import { checkSecFetch, MatrixHttpError, methodNotAllowed, notFound, retryAfterHeaders, sendError, storeDown, unrecognized } from "./http-common.js";
import { ID_PATTERN, MAX_2024_BODY_BYTES, MSC4108_PATH } from "./protocol.js";
import type { HeldGetRoute } from "./held-get.js";
import { holdGet } from "./held-get.js";
import { LONG_POLL_FIELD, LONG_POLL_PARAM } from "./long-poll.js";
import type { StoredSession } from "./store.js";

const METHODS = "GET, HEAD, POST, PUT, DELETE, OPTIONS";
const PREFLIGHT_HEADERS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": METHODS,
  "access-control-allow-headers": "Content-Type, If-Match, If-None-Match, Authorization, X-Requested-With",
  "content-length": "0",
};
const EMPTY = Buffer.alloc(0);

/** The headers of every answer about a session: its version, lifetime, and no caching or transforming. */
function sessionHeaders(token: string, expiresAt: number, modifiedAt: number, now: number): Record<string, string> {
  return {
    etag: `"${token}"`,
    expires: httpDate(expiresAt),
    "last-modified": httpDate(modifiedAt),
    // The same clock as Expires, so a client can take the lifetime as Expires − Date instead of
    // trusting its own clock (matrix-js-sdk#5141).
    date: httpDate(now),
    "cache-control": "no-store, no-transform",
    pragma: "no-cache",
    "access-control-allow-origin": "*",
    "access-control-expose-headers": "ETag, Date",
  };
}

/**
 * Requests must say text/plain. Parameters (`; charset=utf-8`) are accepted: the body is relayed
 * as bytes, so its charset is the clients' business. Answers always say exactly `text/plain`.
 */
function requireTextPlain(req: FastifyRequest): void {
  const type = req.headers["content-type"];
  if (type === undefined) throw new MatrixHttpError(400, "M_MISSING_PARAM", "Missing required header: Content-Type (text/plain)");
  const media = type.split(";", 1)[0]!.trim().toLowerCase();
  if (media !== "text/plain") throw new MatrixHttpError(400, "M_INVALID_PARAM", `Content-Type must be text/plain, not ${JSON.stringify(media.slice(0, 100))}`);
}

/** The body's bytes, one char per byte: the stores keep strings, and latin1 maps every byte. */
function bodyBytes(body: unknown): string {
  return Buffer.isBuffer(body) ? body.toString("latin1") : "";
}

const HOST = /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;

/** `<public base>/_matrix/client/unstable/org.matrix.msc4108/rendezvous/`, configured or from the request. */
function sessionUrlPrefix(ctx: RouteContext, req: FastifyRequest): string {
  if (ctx.publicBaseUrl !== undefined) return ctx.publicBaseUrl + MSC4108_PATH.slice(1) + "/";
  const proto = req.protocol;
  const host = req.host;
  if ((proto !== "http" && proto !== "https") || !HOST.test(host)) {
    throw new MatrixHttpError(400, "M_INVALID_PARAM", "Cannot build the session URL from this request's Host; the server needs public_base_url");
  }
  return `${proto}://${host}${MSC4108_PATH}/`;
}

function refusedAtCap(ctx: RouteContext, created: { reason: "total" | "per_owner"; retryAfterMs: number }): MatrixHttpError {
  if (ctx.metrics) ctx.metrics.capRefused++;
  const why = created.reason === "total" ? "The server has too many live rendezvous sessions" : "Too many live rendezvous sessions from this address";
  return new MatrixHttpError(429, "M_LIMIT_EXCEEDED", why, { retry_after_ms: created.retryAfterMs }, retryAfterHeaders(created.retryAfterMs));
}

const concurrentWrite = () => new MatrixHttpError(412, "M_CONCURRENT_WRITE", "ETag does not match: the session changed since that ETag was issued", {
  // Synapse's spelling (errcode M_UNKNOWN plus this field). We send M_CONCURRENT_WRITE in both
  // places, so a client reading either field sees the MSC's code.
  "org.matrix.msc4108.errcode": "M_CONCURRENT_WRITE",
});

function answerGet(reply: FastifyReply, req: FastifyRequest, s: StoredSession | null, t: number): FastifyReply {
  if (!s) throw notFound();
  const headers = sessionHeaders(s.sequenceToken, s.expiresAt, s.modifiedAt, t);
  if (ifNoneMatchHolds(req.headers["if-none-match"], s.sequenceToken)) return reply.code(304).headers(headers).send();
  return reply.code(200).headers(headers).header("content-type", "text/plain").header("content-encoding", "identity").send(Buffer.from(s.data, "latin1"));
}

/** Preflights and 404s of the 2024 prefix; its routes too unless the 2024 API is off. */
export async function routes2024(scope: FastifyInstance, basics: ScopeBasics, ctx: RouteContext | null): Promise<void> {
  if (basics.hostHasCors) scope.addHook("onRoute", (route) => { route.config = { ...(route.config ?? {}), cors: false } as typeof route.config; });
  // Its own preflight answer, whatever the host does: the 2024 API needs If-Match and If-None-Match allowed.
  scope.options("*", (_req, reply) => { reply.code(204).headers(PREFLIGHT_HEADERS).send(); });
  scope.setNotFoundHandler((req, reply) => {
    basics.metrics?.countRequest(req.method, "unmatched", 404);
    return sendError(reply, unrecognized());
  });
  if (!ctx) return;
  const { store, memory, limits, now, held } = ctx;
  const longPoll = ctx.longPoll ? { [LONG_POLL_FIELD]: ctx.longPoll } : {};
  const heldRoute: HeldGetRoute | null = held && {
    held, now,
    read: (id) => (memory ? memory.getSync("2024", id, now()) : store.get("2024", id, now())),
    unchanged: (s, ifNoneMatch) => ifNoneMatchHolds(ifNoneMatch, s.sequenceToken),
    answer: (req, reply, s, t) => { answerGet(reply, req, s, t); },
  };
  const reqHooks = ctx.requestHooks;

  // Bodies are read as bytes, at most 4096 of them (more: 413 before the body is read, when
  // Content-Length says so). A missing Content-Length (chunked upload) is accepted.
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: MAX_2024_BODY_BYTES }, (_req, body, done) => done(null, body));

  scope.post("/", ctx.createHooks, async (req, reply) => {
    await ctx.authorizeCreate(req);
    requireTextPlain(req);
    const data = bodyBytes(req.body);
    const urlPrefix = sessionUrlPrefix(ctx, req);
    const t = now();
    const created = await store.create({
      api: "2024", data, now: t, ttlMs: ctx.ttlMs2024, owner: clientKey(req.ip), maxSessions: limits.maxSessions, maxSessionsPerOwner: limits.maxSessionsPerIp,
    }).catch(storeDown(req));
    if (!created.ok) throw refusedAtCap(ctx, created);
    const url = urlPrefix + created.id;
    return reply.code(201).headers(sessionHeaders(created.sequenceToken, created.expiresAt, t, t))
      .header("content-type", "application/json").header("location", url)
      .send(Buffer.from(JSON.stringify({ url, ...longPoll }), "utf8"));
  });

  scope.route({ method: ["GET", "PUT", "DELETE", "PATCH"], url: "/", handler: async () => { throw methodNotAllowed(); } });

  scope.get<{ Params: { id: string }; Querystring: { [LONG_POLL_PARAM]?: string | string[] } }>("/:id", reqHooks, (req, reply) => {
    checkSecFetch(req);
    const id = req.params.id;
    if (!ID_PATTERN.test(id)) throw notFound();
    // Long-poll: opted in by the query parameter, and only meaningful with an If-None-Match to wait on.
    const ifNoneMatch = req.headers["if-none-match"];
    if (heldRoute && req.query[LONG_POLL_PARAM] !== undefined && ifNoneMatch !== undefined) return holdGet(heldRoute, req, reply, id, ifNoneMatch);
    const t = now();
    if (memory) return answerGet(reply, req, memory.getSync("2024", id, t), t);
    return store.get("2024", id, t).then((s) => answerGet(reply, req, s, t), storeDown(req));
  });

  scope.put<{ Params: { id: string } }>("/:id", reqHooks, async (req, reply) => {
    requireTextPlain(req);
    const ifMatch = readIfMatch(req.headers["if-match"]);
    if (!ifMatch.ok) throw new MatrixHttpError(400, ifMatch.errcode, ifMatch.message);
    const id = req.params.id;
    if (!ID_PATTERN.test(id)) throw notFound();
    const t = now();
    const result = await store.update("2024", id, ifMatch.opaque, bodyBytes(req.body), t).catch(storeDown(req));
    switch (result.kind) {
      case "written":
        held?.wake(id);
        return reply.code(202).headers(sessionHeaders(result.sequenceToken, result.expiresAt, t, t)).header("content-type", "text/plain").send(EMPTY);
      case "unchanged": // identical data under a stale tag: the 2024 API has no idempotent replay
      case "conflict":
        // No ETag on the 412: matrix-js-sdk copies the ETag of any PUT answer and would then poll
        // with the current tag, never reading the write it missed (element-web#34453); without one
        // it re-reads the session and the conflict surfaces at once.
        throw concurrentWrite();
      default:
        throw notFound();
    }
  });

  scope.delete<{ Params: { id: string } }>("/:id", reqHooks, async (req, reply) => {
    const id = req.params.id;
    if (!ID_PATTERN.test(id) || !(await store.delete("2024", id, now()).catch(storeDown(req)))) throw notFound();
    held?.wake(id);
    return reply.code(204).header("access-control-allow-origin", "*").header("cache-control", "no-store, no-transform").send();
  });

  scope.route({ method: ["POST", "PATCH"], url: "/:id", handler: async () => { throw methodNotAllowed(); } });
}
