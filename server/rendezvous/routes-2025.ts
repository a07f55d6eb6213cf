// The 2025 rendezvous API (MSC4388), under one prefix (v1 or unstable io.element.msc4388): JSON
// bodies, sequence tokens, idempotent retries. Order of checks per route follows the MSC, with
// Synapse's ordering where the MSC is silent (Sec-Fetch before lookup, size before lookup).
import cors from "@fastify/cors";
import type { FastifyInstance, FastifyReply } from "fastify";
import { clientKey } from "./client-key.js";
import type { RouteContext, ScopeBasics } from "./context.js";
import { checkSecFetch, MatrixHttpError, methodNotAllowed, notFound, send, sendError, storeDown, unrecognized, retryAfterHeaders } from "./http-common.js";
import type { RendezvousPrefix } from "./protocol.js";
import { ID_PATTERN, MAX_DATA_BYTES } from "./protocol.js";
import type { HeldGetRoute } from "./held-get.js";
import { holdGet } from "./held-get.js";
import { LONG_POLL_FIELD, LONG_POLL_PARAM } from "./long-poll.js";
import type { StoredSession } from "./store.js";

/** The Matrix CORS set (Client-Server API), on every response including errors and preflights. */
export const CORS_OPTIONS = {
  origin: "*",
  methods: ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"],
  allowedHeaders: ["X-Requested-With", "Content-Type", "Authorization", "Date"],
  strictPreflight: false,
  hideOptionsRoute: true,
};
const PREFLIGHT_HEADERS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": CORS_OPTIONS.methods.join(", "),
  "access-control-allow-headers": CORS_OPTIONS.allowedHeaders.join(", "),
  "content-length": "0",
};

/** Parses the JSON body and checks the named string fields (message says which field is wrong). */
function parseBody(raw: unknown, fields: readonly ("data" | "sequence_token")[]): Record<string, string> {
  if (typeof raw !== "string" || raw.length === 0) {
    throw new MatrixHttpError(400, "M_INVALID_PARAM", "Request body must be a JSON object");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new MatrixHttpError(400, "M_INVALID_PARAM", "Invalid JSON in request body");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new MatrixHttpError(400, "M_INVALID_PARAM", "Request body must be a JSON object");
  }
  const out: Record<string, string> = {};
  for (const field of fields) {
    const value = Object.hasOwn(parsed, field) ? (parsed as Record<string, unknown>)[field] : undefined;
    if (value === undefined) throw new MatrixHttpError(400, "M_INVALID_PARAM", `Missing required field '${field}'`);
    if (typeof value !== "string") throw new MatrixHttpError(400, "M_INVALID_PARAM", `Field '${field}' must be a string`);
    // Lone surrogates cannot be encoded as UTF-8, so "byte-for-byte identical" would be ill-defined.
    if (LONE_SURROGATE.test(value)) throw new MatrixHttpError(400, "M_INVALID_PARAM", `Field '${field}' is not valid Unicode`);
    out[field] = value;
  }
  return out;
}

/** In `u` mode a surrogate pair is one code point, so this matches only unpaired halves. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function checkDataSize(data: string): void {
  // Cheap bound first: a string of n UTF-16 units is at most 3n UTF-8 bytes.
  if (data.length * 3 > MAX_DATA_BYTES && Buffer.byteLength(data, "utf8") > MAX_DATA_BYTES) {
    throw new MatrixHttpError(413, "M_TOO_LARGE", `'data' is larger than ${MAX_DATA_BYTES} bytes`);
  }
}

function sendSession(reply: FastifyReply, s: StoredSession | null, t: number, longPollMember: string): FastifyReply {
  if (!s) throw notFound();
  return send(reply, 200, `{"data":${JSON.stringify(s.data)},"sequence_token":"${s.sequenceToken}","expires_in_ms":${s.expiresAt - t}${longPollMember}}`);
}

/** Preflights and 404s of one prefix; the API's routes too unless it is off. */
export async function routes2025(scope: FastifyInstance, basics: ScopeBasics, ctx: RouteContext | null, prefix: RendezvousPrefix): Promise<void> {
  // @fastify/cors answers the preflights. It lives in a child scope that holds only its OPTIONS
  // catch-all (so in a host app it covers only our paths, and its per-request hook does not run
  // on the polling hot path); every other response gets the static Allow-Origin from send().
  if (!basics.hostHasCors) {
    await scope.register(async (preflight) => { await preflight.register(cors, CORS_OPTIONS); });
  } else {
    // The host registered @fastify/cors (it cannot be registered twice in one tree), with its own
    // settings, which may not allow PUT or Authorization. Our routes opt out of the host's hook
    // and our preflights get the Matrix set.
    scope.addHook("onRoute", (route) => { route.config = { ...(route.config ?? {}), cors: false } as typeof route.config; });
    scope.options("*", (_req, reply) => { reply.code(204).headers(PREFLIGHT_HEADERS).send(); });
  }
  scope.setNotFoundHandler((req, reply) => {
    basics.metrics?.countRequest(req.method, "unmatched", 404);
    return sendError(reply, unrecognized());
  });
  if (!ctx) return;
  const { store, memory, limits, now, metrics, held } = ctx;
  // The advertisement, appended as one more member to discovery, create and session bodies.
  const lp = ctx.longPoll ? `,"${LONG_POLL_FIELD}":${JSON.stringify(ctx.longPoll)}` : "";
  const heldRoute: HeldGetRoute | null = held && {
    held, now,
    read: (id) => (memory ? memory.getSync("2025", id, now()) : store.get("2025", id, now())),
    unchanged: (s, since) => s.sequenceToken === since,
    answer: (_req, reply, s, t) => { sendSession(reply, s, t, lp); },
  };
  const conflict = () => new MatrixHttpError(409, prefix.concurrentWriteErrcode, "sequence_token does not match");
  const reqHooks = ctx.requestHooks;

  // Discovery: 200 with create_available for everyone who may or may not create (MSC), never 401.
  scope.get("/", { ...reqHooks, exposeHeadRoute: true }, async (req, reply) =>
    send(reply, 200, `{"create_available":${(await ctx.mayCreate(req)) ? "true" : "false"}${lp}}`));

  scope.post("/", ctx.createHooks, async (req, reply) => {
    await ctx.authorizeCreate(req);
    const { data } = parseBody(req.body, ["data"]) as { data: string };
    checkDataSize(data);
    const t = now();
    const created = await store.create({
      api: "2025", data, now: t, ttlMs: ctx.ttlMs2025, owner: clientKey(req.ip), maxSessions: limits.maxSessions, maxSessionsPerOwner: limits.maxSessionsPerIp,
    }).catch(storeDown(req));
    if (!created.ok) {
      if (metrics) metrics.capRefused++;
      const why = created.reason === "total" ? "The server has too many live rendezvous sessions" : "Too many live rendezvous sessions from this address";
      throw new MatrixHttpError(429, "M_LIMIT_EXCEEDED", why, { retry_after_ms: created.retryAfterMs }, retryAfterHeaders(created.retryAfterMs));
    }
    return send(reply, 200, `{"id":"${created.id}","sequence_token":"${created.sequenceToken}","expires_in_ms":${Math.max(0, created.expiresAt - t)}${lp}}`);
  });

  scope.route({ method: ["PUT", "DELETE", "PATCH"], url: "/", handler: async () => { throw methodNotAllowed(); } });

  // The hot path: clients poll this about once a second (or hold it open with ?since=<token>).
  scope.get<{ Params: { id: string }; Querystring: { [LONG_POLL_PARAM]?: string | string[] } }>("/:id", reqHooks, (req, reply) => {
    checkSecFetch(req);
    const id = req.params.id;
    if (!ID_PATTERN.test(id)) throw notFound();
    const since = heldRoute ? req.query[LONG_POLL_PARAM] : undefined;
    if (typeof since === "string") return holdGet(heldRoute!, req, reply, id, since);
    const t = now();
    if (memory) return sendSession(reply, memory.getSync("2025", id, t), t, lp);
    return store.get("2025", id, t).then((s) => sendSession(reply, s, t, lp), storeDown(req));
  });

  scope.put<{ Params: { id: string } }>("/:id", reqHooks, async (req, reply) => {
    const body = parseBody(req.body, ["sequence_token", "data"]) as { sequence_token: string; data: string };
    checkDataSize(body.data);
    const id = req.params.id;
    if (!ID_PATTERN.test(id)) throw notFound();
    const result = await store.update("2025", id, body.sequence_token, body.data, now()).catch(storeDown(req));
    switch (result.kind) {
      case "written":
        held?.wake(id);
        return send(reply, 200, `{"sequence_token":"${result.sequenceToken}"}`);
      case "unchanged":
        return send(reply, 200, `{"sequence_token":"${result.sequenceToken}"}`);
      case "conflict":
        throw conflict();
      default:
        throw notFound();
    }
  });

  scope.delete<{ Params: { id: string } }>("/:id", reqHooks, async (req, reply) => {
    const id = req.params.id;
    if (!ID_PATTERN.test(id) || !(await store.delete("2025", id, now()).catch(storeDown(req)))) throw notFound();
    held?.wake(id);
    return send(reply, 200, "{}");
  });

  scope.route({ method: ["POST", "PATCH"], url: "/:id", handler: async () => { throw methodNotAllowed(); } });
}
