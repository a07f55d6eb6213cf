// The rendezvous server as a fastify plugin: the 2025 API (MSC4388) under the v1 and the unstable
// prefix, and the 2024 API (MSC4108 2024, ETags) under its own unstable prefix, on one store with
// one set of limits. Mount it into any fastify instance (the development homeserver does, on its
// origin) or run it standalone (standalone.ts). The routes are in routes-2025.ts and routes-2024.ts;
// this file holds what they share: rate limits, body parsing, errors, metrics and purging.
import rateLimit from "@fastify/rate-limit";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, onRequestHookHandler } from "fastify";
import { clientKey } from "./client-key.js";
import type { Limits, RendezvousMode, RouteContext, ScopeBasics } from "./context.js";
import { bearerToken, MatrixHttpError, retryAfterHeaders, sendError, toMatrixError } from "./http-common.js";
import type { RendezvousMetrics } from "./metrics.js";
import { dropUnusedConnectionsOnClose } from "./unused-connections.js";
import { DEFAULT_LONG_POLL_MS, HeldRequests, LONG_POLL_PARAM, MAX_LONG_POLL_MS } from "./long-poll.js";
import { DEFAULT_TTL_MS, MSC4108_PATH, RENDEZVOUS_PREFIXES } from "./protocol.js";
import { routes2024 } from "./routes-2024.js";
import { routes2025 } from "./routes-2025.js";
import type { RendezvousApi, RendezvousStore } from "./store.js";
import { MemoryStore } from "./store-memory.js";
import type { CheckBudget } from "./token-checks.js";
import { TokenChecks } from "./token-checks.js";
import type { AccessTokenVerifier } from "./verifier.js";
import { VerifierUnavailableError } from "./verifier.js";

export type { Limits, RendezvousMode } from "./context.js";
export { MatrixHttpError, toMatrixError } from "./http-common.js";

export const DEFAULT_LIMITS: Readonly<Limits> = {
  maxSessions: 100_000,
  maxSessionsPerIp: 50,
  createPerWindow: 30,
  requestsPerWindow: 3_000,
  tokenChecksPerWindow: 30,
  windowMs: 60_000,
  bodyLimitBytes: 64 * 1024,
  maxHeld: 10_000,
  maxHeldPerIp: 100,
};

export const ALL_APIS: readonly RendezvousApi[] = ["2025", "2024"];

export interface RendezvousOptions {
  mode: RendezvousMode;
  store: RendezvousStore;
  /** Which APIs to serve (default both). The prefixes of one left out answer 404 M_UNRECOGNIZED. */
  apis?: readonly RendezvousApi[];
  /** Lifetime of 2025 sessions, fixed at creation (default 180 s). Configs keep it to 120–300 s. */
  ttlMs?: number;
  /** Lifetime of 2024 sessions (default: ttlMs). Configs keep it to 60–300 s. */
  ttl2024Ms?: number;
  /**
   * Public base URL of this server (e.g. `https://matrix.example.org/`), where 2024 session URLs
   * start. Unset: each POST's own scheme and Host (X-Forwarded-* with fastify's trustProxy).
   */
  publicBaseUrl?: string;
  limits?: Partial<Limits>;
  /**
   * Long-poll bound (docs/protocol.md "Long-poll"): GETs that name the state the client has are held
   * up to this long. Default 20 s, at most 25 s; 0 switches the extension off (and its advertisement).
   */
  longPollMs?: number;
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

/** A public base URL as the 2024 routes join it: absolute http(s), with a trailing slash, no query. */
export function normalizePublicBaseUrl(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new Error(`public base URL must be an absolute http(s) URL, got "${value}"`);
  }
  if ((u.protocol !== "http:" && u.protocol !== "https:") || u.search || u.hash || u.username || u.password) {
    throw new Error(`public base URL must be an absolute http(s) URL without query, fragment or credentials, got "${value}"`);
  }
  return u.href.endsWith("/") ? u.href : `${u.href}/`;
}

export const rendezvousPlugin: FastifyPluginAsync<RendezvousOptions> = async (app, opts) => {
  const mode = opts.mode;
  const store = opts.store;
  const apis = new Set(opts.apis ?? ALL_APIS);
  const limits: Limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const now = opts.now ?? Date.now;
  const metrics = opts.metrics;
  if (mode === "authenticated" && !opts.verifier) throw new Error("rendezvous: authenticated mode needs an access-token verifier");
  const publicBaseUrl = opts.publicBaseUrl !== undefined ? normalizePublicBaseUrl(opts.publicBaseUrl) : undefined;
  const longPollMs = opts.longPollMs ?? DEFAULT_LONG_POLL_MS;
  if (!Number.isSafeInteger(longPollMs) || longPollMs < 0 || longPollMs > MAX_LONG_POLL_MS) {
    throw new Error(`rendezvous: longPollMs must be an integer from 0 (off) to ${MAX_LONG_POLL_MS}, got ${longPollMs}`);
  }
  const held = mode !== "off" && longPollMs > 0 ? new HeldRequests(longPollMs, limits.maxHeld, limits.maxHeldPerIp) : null;
  // Long-polling clients abort in-flight GETs; the connection Node's fetch leaves behind must not hold up close().
  dropUnusedConnectionsOnClose(app);
  if (held) {
    if (metrics) metrics.heldStats = () => held.stats;
    // Writes on other instances (Redis) or processes (SQLite) wake the GETs held here.
    const unwatch = await store.watch?.((_api, id) => (id === null ? held.wakeAll() : held.wake(id)));
    // Held GETs are answered (as normal GETs) before the server stops, so closing never waits for a bound.
    app.addHook("preClose", (done) => { held.closeAll(); done(); });
    if (unwatch) app.addHook("onClose", async () => unwatch());
  }

  let createLimiter: onRequestHookHandler | undefined;
  let requestLimiter: onRequestHookHandler | undefined;
  let tokenBudget: CheckBudget | null = null;
  let hostLimiter = false;
  const checksTokens = mode === "authenticated" && limits.tokenChecksPerWindow > 0;
  if (mode !== "off" && (limits.createPerWindow > 0 || limits.requestsPerWindow > 0 || checksTokens)) {
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
    // Both APIs share the two budgets: a client polling either counts against the same limit.
    // Clients are counted per IPv4 address or IPv6 /64 (client-key.ts).
    const sharedKeys = store.redis !== undefined || hostLimiter;
    const counter = (max: number, scope: string) => {
      const keyGenerator = sharedKeys ? (req: FastifyRequest) => `${scope}:${clientKey(req.ip)}` : (req: FastifyRequest) => clientKey(req.ip);
      return app.createRateLimit({ max, timeWindow: limits.windowMs, keyGenerator });
    };
    const limiter = (max: number, scope: string): onRequestHookHandler | undefined => {
      if (max <= 0) return undefined;
      const check = counter(max, scope);
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
    if (checksTokens) {
      const check = counter(limits.tokenChecksPerWindow, "token");
      tokenBudget = async (req) => {
        const r = await check(req);
        return r.isAllowed || !r.isExceeded ? { ok: true } : { ok: false, retryAfterMs: r.ttl };
      };
    }
  }

  // Bodies are read as text whatever their Content-Type (Synapse does not check it either) and
  // parsed by the routes, so every malformed body gets a Matrix error naming what is wrong. (The
  // 2024 routes replace this with their own byte parser.)
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

  const basics: ScopeBasics = { hostHasCors: app.hasRequestDecorator("corsPreflightEnabled"), metrics };

  const tokens = mode === "authenticated" ? new TokenChecks({ verifier: opts.verifier!, budget: tokenBudget, now }) : null;

  async function mayCreate(req: FastifyRequest): Promise<boolean> {
    if (!tokens) return true;
    const token = bearerToken(req);
    if (!token) return false;
    try {
      return (await tokens.check(req, token)) === "valid";
    } catch (err) {
      req.log.warn({ err: (err as Error).message }, "rendezvous: access-token verifier failed");
      return false;
    }
  }

  async function authorizeCreate(req: FastifyRequest): Promise<void> {
    if (!tokens) return;
    const token = bearerToken(req);
    if (!token) throw new MatrixHttpError(401, "M_MISSING_TOKEN", "Creating a rendezvous session needs an access token");
    let checked;
    try {
      checked = await tokens.check(req, token);
    } catch (err) {
      if (err instanceof VerifierUnavailableError) throw new MatrixHttpError(503, "M_UNKNOWN", "Cannot verify the access token right now", {}, { "retry-after": "5" });
      throw err;
    }
    if (typeof checked === "object") {
      if (metrics) metrics.rateLimited++;
      throw new MatrixHttpError(429, "M_LIMIT_EXCEEDED", "Too many access tokens checked for this address", { retry_after_ms: checked.retryAfterMs }, retryAfterHeaders(checked.retryAfterMs));
    }
    if (checked === "invalid") throw new MatrixHttpError(401, "M_UNKNOWN_TOKEN", "Unrecognised access token");
  }

  const ctx: RouteContext | null = mode === "off" ? null : {
    ...basics,
    mode,
    store,
    memory: store instanceof MemoryStore ? store : null,
    limits,
    now,
    ttlMs2025: opts.ttlMs ?? DEFAULT_TTL_MS,
    ttlMs2024: opts.ttl2024Ms ?? opts.ttlMs ?? DEFAULT_TTL_MS,
    publicBaseUrl,
    held,
    longPoll: held ? { query_parameter: LONG_POLL_PARAM, max_wait_ms: longPollMs } : null,
    requestHooks: requestLimiter ? { onRequest: requestLimiter } : {},
    createHooks: createLimiter ? { onRequest: createLimiter } : {},
    mayCreate,
    authorizeCreate,
  };

  for (const prefix of RENDEZVOUS_PREFIXES) {
    await app.register(async (scope) => routes2025(scope, basics, apis.has("2025") ? ctx : null, prefix), { prefix: prefix.path });
  }
  await app.register(async (scope) => routes2024(scope, basics, apis.has("2024") ? ctx : null), { prefix: MSC4108_PATH });
};
