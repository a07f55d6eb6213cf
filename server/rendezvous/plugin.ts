// The MSC4388 rendezvous routes as a fastify plugin, served under both the v1 and the unstable
// prefix. Mount it into any fastify instance (the development homeserver does, on its origin) or
// run it standalone (standalone.ts). Order of checks per route follows the MSC, with Synapse's
// ordering where the MSC is silent (Sec-Fetch before lookup, size before lookup).
import cors from "@fastify/cors";
import rateLimit from "@fastify/rate-limit";
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, onRequestHookHandler } from "fastify";
import type { RendezvousMetrics } from "./metrics.js";
import type { RendezvousPrefix } from "./protocol.js";
import { DEFAULT_TTL_MS, ID_PATTERN, MAX_DATA_BYTES, RENDEZVOUS_PREFIXES } from "./protocol.js";
import type { RendezvousStore } from "./store.js";
import { MemoryStore } from "./store-memory.js";
import type { AccessTokenVerifier } from "./verifier.js";
import { VerifierUnavailableError } from "./verifier.js";

export type RendezvousMode = "off" | "authenticated" | "open";

export interface Limits {
  /** Live sessions in total; a create beyond it is refused (429), never evicting others. 0 = none. */
  maxSessions: number;
  /** Live sessions per client IP. 0 = none. */
  maxSessionsPerIp: number;
  /** Creates per client IP per window. 0 = no limit. */
  createPerWindow: number;
  /** All other rendezvous requests per client IP per window (clients poll once a second). 0 = no limit. */
  requestsPerWindow: number;
  windowMs: number;
  /** Largest request body accepted (the JSON-escaped 4096-byte `data` plus the token fit easily). */
  bodyLimitBytes: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = {
  maxSessions: 100_000,
  maxSessionsPerIp: 50,
  createPerWindow: 30,
  requestsPerWindow: 3_000,
  windowMs: 60_000,
  bodyLimitBytes: 64 * 1024,
};

export interface RendezvousOptions {
  mode: RendezvousMode;
  store: RendezvousStore;
  /** Session lifetime, fixed at creation (default 180 s). Configs keep it to 120–300 s. */
  ttlMs?: number;
  limits?: Partial<Limits>;
  /** Needed in `authenticated` mode. */
  verifier?: AccessTokenVerifier;
  metrics?: RendezvousMetrics;
  /** Clock (tests advance it to expire sessions without waiting). */
  now?: () => number;
  /** How often expired sessions are purged in the background (default 10 s; 0 = never). */
  purgeIntervalMs?: number;
  /** Key namespace of the shared rate-limit counters when the store is Redis. */
  rateLimitNamespace?: string;
}

/** Parses a mode name; `public` is the older Synapse spelling of `open`. */
export function parseMode(value: string): RendezvousMode {
  const v = value.trim().toLowerCase();
  if (v === "off" || v === "authenticated" || v === "open") return v;
  if (v === "public") return "open";
  throw new Error(`rendezvous mode must be one of off, open (alias public), authenticated; got "${value}"`);
}

/** A Matrix error: status + errcode + human-readable message (+ optional extra fields). */
export class MatrixHttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly errcode: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const JSON_TYPE = "application/json";

/** The Matrix CORS set (Client-Server API), on every response including errors and preflights. */
const CORS_OPTIONS = {
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

/** Headers of every JSON response: CORS (non-preflight), no caching or transforming by proxies. */
const STATIC_HEADERS = {
  "content-type": JSON_TYPE,
  "cache-control": "no-store, no-transform",
  "access-control-allow-origin": "*",
};

function send(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).headers(STATIC_HEADERS).send(body);
}

function sendError(reply: FastifyReply, err: MatrixHttpError): FastifyReply {
  for (const [k, v] of Object.entries(err.headers)) reply.header(k, v);
  return send(reply, err.statusCode, JSON.stringify({ errcode: err.errcode, error: err.message, ...err.extra }));
}

const unrecognized = () => new MatrixHttpError(404, "M_UNRECOGNIZED", "Unrecognized request");
const methodNotAllowed = () => new MatrixHttpError(405, "M_UNRECOGNIZED", "Method not allowed on this rendezvous path");
const notFound = () => new MatrixHttpError(404, "M_NOT_FOUND", "Rendezvous session not found");

/** Maps anything thrown inside our routes (ours, fastify's, the rate limiter's) to a Matrix error. */
export function toMatrixError(err: unknown): MatrixHttpError {
  if (err instanceof MatrixHttpError) return err;
  const e = err as { statusCode?: number; code?: string; message?: string; retryAfterMs?: number };
  const status = typeof e.statusCode === "number" ? e.statusCode : 500;
  if (status === 429) {
    const ms = Math.max(0, Math.ceil(e.retryAfterMs ?? 1000));
    return new MatrixHttpError(429, "M_LIMIT_EXCEEDED", "Too many requests", { retry_after_ms: ms });
  }
  if (status === 413) return new MatrixHttpError(413, "M_TOO_LARGE", "Request body too large");
  if (status === 415 || status === 400) return new MatrixHttpError(400, "M_INVALID_PARAM", `Bad request: ${e.message ?? "malformed"}`);
  if (status === 404) return unrecognized();
  if (status === 405) return methodNotAllowed();
  if (status >= 400 && status < 500) return new MatrixHttpError(status, "M_UNKNOWN", e.message ?? "Bad request");
  return new MatrixHttpError(500, "M_UNKNOWN", "Internal server error");
}

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

/** MSC4388 unsafe-content rule: refuse GETs that look like a browser navigation or a subresource load. */
function checkSecFetch(req: FastifyRequest): void {
  const h = req.headers;
  const dest = first(h["sec-fetch-dest"]);
  if (dest !== undefined && dest !== "empty") throw forbidden("Rendezvous content is not accessible from the request destination");
  if (first(h["sec-fetch-mode"]) === "navigate") throw forbidden("Rendezvous content is not accessible via top-level navigation");
  if (first(h["sec-fetch-user"]) === "?1") throw forbidden("Rendezvous content is not accessible from requests with user activation");
  if (first(h["sec-fetch-site"]) === "none") throw forbidden("Rendezvous content is not accessible from requests from user interaction");
}

function first(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined ? undefined : s.split(",")[0]!.trim();
}

/** A store failure (Redis unreachable, SQLite busy…) is a temporary 503, logged without request data. */
function storeDown(req: FastifyRequest): (err: unknown) => never {
  return (err) => {
    req.log.error({ err: (err as Error).message }, "rendezvous: store unavailable");
    throw new MatrixHttpError(503, "M_UNKNOWN", "Rendezvous store temporarily unavailable", {}, { "retry-after": "1" });
  };
}

const forbidden = (msg: string) => new MatrixHttpError(403, "M_FORBIDDEN", msg);

function bearerToken(req: FastifyRequest): string | null {
  const auth = req.headers.authorization;
  if (typeof auth !== "string") return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
  return m ? m[1]! : null;
}

function retryAfterHeaders(ms: number): Record<string, string> {
  return { "retry-after": String(Math.max(1, Math.ceil(ms / 1000))) };
}

export const rendezvousPlugin: FastifyPluginAsync<RendezvousOptions> = async (app, opts) => {
  const mode = opts.mode;
  const store = opts.store;
  const ttlMs = opts.ttlMs ?? DEFAULT_TTL_MS;
  const limits: Limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const now = opts.now ?? Date.now;
  const metrics = opts.metrics;
  if (mode === "authenticated" && !opts.verifier) throw new Error("rendezvous: authenticated mode needs an access-token verifier");


  let createLimiter: onRequestHookHandler | undefined;
  let requestLimiter: onRequestHookHandler | undefined;
  let hostLimiter = false;
  if (mode !== "off" && (limits.createPerWindow > 0 || limits.requestsPerWindow > 0)) {
    if (app.hasDecorator("createRateLimit")) {
      hostLimiter = true;
      app.log.warn("rendezvous: @fastify/rate-limit is already registered by the host; its store is used for rendezvous limits");
    } else {
      await app.register(rateLimit, {
        global: false,
        ...(store.redis ? { redis: store.redis, nameSpace: opts.rateLimitNamespace ?? "qrl:rz:rl:" } : {}),
        // A Redis outage is answered by the store's 503, not by a limiter failure.
        skipOnError: true,
        // Refusals (429 + Retry-After only, no x-ratelimit-* headers) are answered by our hook below.
      });
    }
    // Each limiter is its own child store of @fastify/rate-limit: in memory an LRU of its own, so the
    // client IP alone is the key; on Redis every child built by createRateLimit shares one key
    // prefix, so the scope goes into the key there (one string per request only in that case).
    const sharedKeys = store.redis !== undefined || hostLimiter;
    const limiter = (max: number, scope: string): onRequestHookHandler | undefined => {
      if (max <= 0) return undefined;
      const keyGenerator = sharedKeys ? (req: FastifyRequest) => `${scope}:${req.ip}` : (req: FastifyRequest) => req.ip;
      const check = app.createRateLimit({ max, timeWindow: limits.windowMs, keyGenerator });
      // A callback hook around the plugin's check: fastify's hook runner then handles no promise of
      // ours, and the route-level wrapper of app.rateLimit() (its own async frame, a re-entry flag
      // and header bookkeeping that is switched off here anyway) is not run on every poll.
      return (req, reply, done) => {
        check(req).then((r) => {
          if (r.isAllowed || !r.isExceeded) { done(); return; }
          if (metrics) metrics.rateLimited++;
          reply.header("retry-after", r.ttlInSeconds);
          done(Object.assign(new Error("Too many requests"), { statusCode: 429, retryAfterMs: r.ttl }));
        }, done);
      };
    };
    createLimiter = limiter(limits.createPerWindow, "create");
    requestLimiter = limiter(limits.requestsPerWindow, "req");
  }

  // Bodies are read as text whatever their Content-Type (Synapse does not check it either) and
  // parsed here, so every malformed body gets a Matrix error naming what is wrong.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string", bodyLimit: limits.bodyLimitBytes }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err, _req, reply) => {
    const m = toMatrixError(err);
    if (m.statusCode >= 500) reply.log.error({ err }, "rendezvous: internal error");
    if (m.statusCode === 429 && !reply.hasHeader("retry-after")) reply.header("retry-after", retryAfterHeaders(Number(m.extra.retry_after_ms ?? 1000))["retry-after"]!);
    return sendError(reply, m);
  });

  if (metrics) {
    // One counter per route, bound when the route is registered: no per-request label building.
    app.addHook("onRoute", (route) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      for (const method of methods) {
        const count = metrics.routeCounter(method, route.url);
        const hook = (_req: FastifyRequest, reply: FastifyReply, done: () => void) => { count(reply.statusCode); done(); };
        route.onResponse = route.onResponse === undefined ? [hook] : [...(Array.isArray(route.onResponse) ? route.onResponse : [route.onResponse]), hook];
      }
    });
  }

  if (mode !== "off" && (opts.purgeIntervalMs ?? 10_000) > 0) {
    const timer = setInterval(() => {
      store.purgeExpired(now()).catch((err: unknown) => app.log.warn({ err }, "rendezvous: purge failed"));
    }, opts.purgeIntervalMs ?? 10_000);
    timer.unref();
    app.addHook("onClose", async () => clearInterval(timer));
  }

  const memory = store instanceof MemoryStore ? store : null;
  const hostHasCors = app.hasRequestDecorator("corsPreflightEnabled");

  async function mayCreate(req: FastifyRequest): Promise<boolean> {
    if (mode === "open") return true;
    const token = bearerToken(req);
    if (!token) return false;
    try {
      return (await opts.verifier!(token)) !== null;
    } catch (err) {
      req.log.warn({ err: (err as Error).message }, "rendezvous: access-token verifier failed");
      return false;
    }
  }

  const prefixRoutes = async (scope: FastifyInstance, prefix: RendezvousPrefix) => {
    // @fastify/cors answers the preflights. It lives in a child scope that holds only its OPTIONS
    // catch-all (so in a host app it covers only our paths, and its per-request hook does not run
    // on the polling hot path); every other response gets the static Allow-Origin from send().
    if (!hostHasCors) {
      await scope.register(async (preflight) => { await preflight.register(cors, CORS_OPTIONS); });
    } else {
      // The host registered @fastify/cors (it cannot be registered twice in one tree), with its own
      // settings, which may not allow PUT or Authorization. Our routes opt out of the host's hook
      // and our preflights get the Matrix set.
      scope.addHook("onRoute", (route) => { route.config = { ...(route.config ?? {}), cors: false } as typeof route.config; });
      scope.options("*", (_req, reply) => { reply.code(204).headers(PREFLIGHT_HEADERS).send(); });
    }
    scope.setNotFoundHandler((req, reply) => {
      metrics?.countRequest(req.method, "unmatched", 404);
      return sendError(reply, unrecognized());
    });
    if (mode === "off") return;
    const conflict = () => new MatrixHttpError(409, prefix.concurrentWriteErrcode, "sequence_token does not match");
    const reqHooks = requestLimiter ? { onRequest: requestLimiter } : {};
    const createHooks = createLimiter ? { onRequest: createLimiter } : {};

    // Discovery: 200 with create_available for everyone who may or may not create (MSC), never 401.
    scope.get("/", { ...reqHooks, exposeHeadRoute: true }, async (req, reply) =>
      send(reply, 200, (await mayCreate(req)) ? '{"create_available":true}' : '{"create_available":false}'));

    scope.post("/", createHooks, async (req, reply) => {
      if (mode === "authenticated") {
        const token = bearerToken(req);
        if (!token) throw new MatrixHttpError(401, "M_MISSING_TOKEN", "Creating a rendezvous session needs an access token");
        let user: { userId: string } | null;
        try {
          user = await opts.verifier!(token);
        } catch (err) {
          if (err instanceof VerifierUnavailableError) throw new MatrixHttpError(503, "M_UNKNOWN", "Cannot verify the access token right now", {}, { "retry-after": "5" });
          throw err;
        }
        if (!user) throw new MatrixHttpError(401, "M_UNKNOWN_TOKEN", "Unrecognised access token");
      }
      const { data } = parseBody(req.body, ["data"]) as { data: string };
      checkDataSize(data);
      const t = now();
      const created = await store.create({
        data, now: t, ttlMs, owner: req.ip, maxSessions: limits.maxSessions, maxSessionsPerOwner: limits.maxSessionsPerIp,
      }).catch(storeDown(req));
      if (!created.ok) {
        if (metrics) metrics.capRefused++;
        const why = created.reason === "total" ? "The server has too many live rendezvous sessions" : "Too many live rendezvous sessions from this address";
        throw new MatrixHttpError(429, "M_LIMIT_EXCEEDED", why, { retry_after_ms: created.retryAfterMs }, retryAfterHeaders(created.retryAfterMs));
      }
      return send(reply, 200, `{"id":"${created.id}","sequence_token":"${created.sequenceToken}","expires_in_ms":${Math.max(0, created.expiresAt - t)}}`);
    });

    scope.route({ method: ["PUT", "DELETE", "PATCH"], url: "/", handler: async () => { throw methodNotAllowed(); } });

    // The hot path: clients poll this about once a second.
    scope.get<{ Params: { id: string } }>("/:id", reqHooks, (req, reply) => {
      checkSecFetch(req);
      const id = req.params.id;
      if (!ID_PATTERN.test(id)) throw notFound();
      const t = now();
      if (memory) return sendSession(reply, memory.getSync(id, t), t);
      return store.get(id, t).then((s) => sendSession(reply, s, t), storeDown(req));
    });

    scope.put<{ Params: { id: string } }>("/:id", reqHooks, async (req, reply) => {
      const body = parseBody(req.body, ["sequence_token", "data"]) as { sequence_token: string; data: string };
      checkDataSize(body.data);
      const id = req.params.id;
      if (!ID_PATTERN.test(id)) throw notFound();
      const result = await store.update(id, body.sequence_token, body.data, now()).catch(storeDown(req));
      switch (result.kind) {
        case "written":
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
      if (!ID_PATTERN.test(id) || !(await store.delete(id, now()).catch(storeDown(req)))) throw notFound();
      return send(reply, 200, "{}");
    });

    scope.route({ method: ["POST", "PATCH"], url: "/:id", handler: async () => { throw methodNotAllowed(); } });
  };

  for (const prefix of RENDEZVOUS_PREFIXES) {
    await app.register(async (scope) => prefixRoutes(scope, prefix), { prefix: prefix.path });
  }
};

function sendSession(reply: FastifyReply, s: { data: string; sequenceToken: string; expiresAt: number } | null, t: number): FastifyReply {
  if (!s) throw notFound();
  return send(reply, 200, `{"data":${JSON.stringify(s.data)},"sequence_token":"${s.sequenceToken}","expires_in_ms":${s.expiresAt - t}}`);
}
