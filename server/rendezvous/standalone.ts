// The rendezvous server as its own process: the plugin (both APIs) plus /health, /metrics, JSON 404s for
// every other path, pino logs without payloads, tokens or session ids, bounds on how long a request
// may take to arrive and on connections (connection-guard.ts), and graceful close.
import { setTimeout as sleep } from "node:timers/promises";
import Fastify, { LogController } from "fastify";
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from "fastify";
import type { ConnectionLimits } from "./connection-guard.js";
import { createGuardedServer, DEFAULT_CONNECTION_LIMITS, endWithError } from "./connection-guard.js";
import { logUrl } from "./log-url.js";
import { RendezvousMetrics } from "./metrics.js";
import { redactUrl, openStore } from "./open-store.js";
import type { OpenStoreOptions } from "./open-store.js";
import type { TrustProxy } from "./proxy-trust.js";
import { fastifyTrustProxy, trustedPeer, trustProxyWarning } from "./proxy-trust.js";
import type { Limits, RendezvousMode } from "./plugin.js";
import { ALL_APIS, rendezvousPlugin } from "./plugin.js";
import type { RendezvousApi, RendezvousStore } from "./store.js";
import type { AccessTokenVerifier } from "./verifier.js";
import { remoteWhoamiVerifier } from "./verifier.js";

export interface RendezvousServerConfig {
  host: string;
  port: number;
  mode: RendezvousMode;
  /** "memory" | "sqlite:PATH" | "redis://…"; ignored when `storeInstance` is given. */
  store: string;
  storeInstance?: RendezvousStore;
  ttlMs?: number;
  /** Lifetime of 2024 sessions (default ttlMs). */
  ttl2024Ms?: number;
  /** APIs served (default both). */
  apis?: readonly RendezvousApi[];
  /** Where 2024 session URLs start (see RendezvousOptions.publicBaseUrl). */
  publicBaseUrl?: string;
  /** Long-poll bound in ms (default 20000, max 25000, 0 = off). */
  longPollMs?: number;
  limits?: Partial<Limits>;
  /** Homeserver for the remote whoami verifier (authenticated mode). */
  homeserver?: string;
  verifier?: AccessTokenVerifier;
  /** Who may forward the client's address (proxy-trust.ts): true, a hop count, or addresses/CIDRs of trusted proxies. */
  trustProxy?: TrustProxy;
  /**
   * Bound in ms on receiving one request, headers and body (default 10000; 0 = none). A held
   * long-poll GET has arrived in full and is not affected.
   */
  requestTimeoutMs?: number;
  /** Connections per client IP and unanswered pipelined requests per connection. */
  connectionLimits?: Partial<ConnectionLimits>;
  /** Bound on a Redis command or connection attempt (default 2000). */
  redisTimeoutMs?: number;
  /** Bound on waiting for another connection's lock on the SQLite file (default 2000). */
  sqliteBusyTimeoutMs?: number;
  /** pino level, or false for no logs. Default "info". */
  logLevel?: string | false;
  redisPrefix?: string;
  now?: () => number;
  purgeIntervalMs?: number;
}

/** The server, ready to listen or to answer `app.inject()` (tests of route logic need no socket). */
export interface RendezvousServer {
  app: FastifyInstance;
  store: RendezvousStore;
  /** Closes the app, and the store unless it was given as `storeInstance`. */
  close(): Promise<void>;
}

export interface RunningRendezvousServer extends RendezvousServer {
  url: string;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/**
 * Idle kept-alive connections are closed after 72 s (fastify's default): longer than nginx's
 * upstream keepalive_timeout (60 s), so nginx closes first and never reuses a connection just dropped.
 */
const KEEP_ALIVE_TIMEOUT_MS = 72_000;

/** How long /metrics waits for the live-session count before leaving it out. */
const METRICS_STORE_WAIT_MS = 250;

const JSON_404 = JSON.stringify({ errcode: "M_UNRECOGNIZED", error: "Unrecognized request" });

/** The standalone server, listening on `config.host`:`config.port`. */
export async function startRendezvousServer(config: RendezvousServerConfig): Promise<RunningRendezvousServer> {
  const server = await buildRendezvousServer(config);
  try {
    const url = await server.app.listen({ host: config.host, port: config.port });
    server.app.log.info({ store: server.store.kind === "redis" ? redactUrl(config.store) : config.store, mode: config.mode }, "rendezvous server listening");
    return { ...server, url };
  } catch (err) {
    await server.close();
    throw err;
  }
}

/** The standalone server, ready but not listening (`config.host` and `config.port` are not used). */
export async function buildRendezvousServer(config: RendezvousServerConfig): Promise<RendezvousServer> {
  const storeOptions: OpenStoreOptions = {
    ...(config.redisPrefix ? { redisPrefix: config.redisPrefix } : {}),
    ...(config.redisTimeoutMs !== undefined ? { redisTimeoutMs: config.redisTimeoutMs } : {}),
    ...(config.sqliteBusyTimeoutMs !== undefined ? { sqliteBusyTimeoutMs: config.sqliteBusyTimeoutMs } : {}),
  };
  const isTrustedPeer = trustedPeer(config.trustProxy); // throws on a malformed entry, before the store opens
  const store = config.storeInstance ?? (await openStore(config.store, storeOptions));
  const ownsStore = !config.storeInstance;
  const metrics = new RendezvousMetrics();
  const requestTimeoutMs = config.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const options: FastifyServerOptions = {
    // Request-scoped child loggers cost a pino child per poll; nothing is logged per request, so
    // requests share the server's logger.
    childLoggerFactory: function (this: unknown, logger: FastifyBaseLogger) { return logger; },
    logger: config.logLevel === false ? false : {
      level: config.logLevel ?? "info",
      serializers: {
        req: (req) => ({ method: req.method, url: logUrl(req.url), remoteAddress: req.ip }),
        res: (res) => ({ statusCode: res.statusCode }),
      },
    },
    trustProxy: fastifyTrustProxy(config.trustProxy),
    // Timeouts, connection caps and pipelining: connection-guard.ts.
    serverFactory: (handler) => createGuardedServer(handler, {
      ...DEFAULT_CONNECTION_LIMITS, ...config.connectionLimits, requestTimeoutMs, keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS, trustedPeer: isTrustedPeer, metrics,
    }),
    // Clients poll about once a second: per-request log lines only when asked for (debug/trace).
    logController: new LogController({ disableRequestLogging: !(config.logLevel === "debug" || config.logLevel === "trace") }),
    // Malformed URLs and the like get a Matrix error too.
    frameworkErrors: (err: FastifyError, _req: FastifyRequest, reply: FastifyReply) => {
      reply.code(400).header("content-type", "application/json").header("access-control-allow-origin", "*")
        .header("cache-control", "no-store, no-transform")
        .send(JSON.stringify({ errcode: "M_INVALID_PARAM", error: `Bad request: ${err.message}` }));
    },
    return503OnClosing: true,
    // Requests Node's HTTP parser rejects (malformed framing, bad headers) get a Matrix error too, and
    // so do requests not received within the bound (408). Either way the connection is closed, also
    // when the client keeps sending (an ended socket would otherwise stay half open for it).
    clientErrorHandler: (err: Error & { code?: string }, socket) => {
      if (process.env.RZ_DEBUG_CLIENT_ERRORS) console.error("clientError", err.code, err.message);
      if (err.code === "ECONNRESET" || socket.destroyed) return;
      if (err.code === "ERR_HTTP_REQUEST_TIMEOUT") {
        metrics.connectionsClosed.request_timeout++;
        // At once: the rest of the request may still trickle in, and nothing may read it any more.
        endWithError(socket, 408, "Request Timeout", { errcode: "M_UNKNOWN", error: `Request not received within ${requestTimeoutMs} ms` }, {}, true);
        return;
      }
      endWithError(socket, 400, "Bad Request", { errcode: "M_INVALID_PARAM", error: `Malformed HTTP request (${err.code ?? "parse error"})` });
    },
  };
  const app: FastifyInstance = Fastify(options);
  const trustWarning = trustProxyWarning(config.trustProxy);
  if (trustWarning) app.log.warn(trustWarning);
  let verifier = config.verifier;
  if (config.mode === "authenticated" && !verifier) {
    if (!config.homeserver) throw new Error("authenticated mode needs a homeserver URL (--homeserver) to verify access tokens");
    verifier = remoteWhoamiVerifier({ homeserver: config.homeserver });
  }
  try {
    await app.register(rendezvousPlugin, {
      mode: config.mode, store, metrics,
      ...(config.ttlMs !== undefined ? { ttlMs: config.ttlMs } : {}),
      ...(config.ttl2024Ms !== undefined ? { ttl2024Ms: config.ttl2024Ms } : {}),
      ...(config.apis ? { apis: config.apis } : {}),
      ...(config.publicBaseUrl !== undefined ? { publicBaseUrl: config.publicBaseUrl } : {}),
      ...(config.longPollMs !== undefined ? { longPollMs: config.longPollMs } : {}),
      ...(config.limits ? { limits: config.limits } : {}),
      ...(verifier ? { verifier } : {}),
      ...(config.now ? { now: config.now } : {}),
      ...(config.purgeIntervalMs !== undefined ? { purgeIntervalMs: config.purgeIntervalMs } : {}),
      ...(config.redisPrefix ? { rateLimitNamespace: `${config.redisPrefix}rl:` } : {}),
    });
    const now = config.now ?? Date.now;
    app.get("/health", async (_req, reply) => {
      let live: number;
      try {
        live = await store.liveCount(now());
      } catch (err) {
        reply.log.warn({ err: (err as Error).message }, "health: store unavailable");
        return reply.code(503).header("cache-control", "no-store").send({ status: "unavailable", store: store.kind });
      }
      // A store that answers reads but cannot write (disk full) cannot start a sign-in either.
      const problem = store.writeProblem ? await store.writeProblem(now()) : null;
      if (problem !== null) {
        reply.log.warn({ err: problem }, "health: store writes failing");
        return reply.code(503).header("cache-control", "no-store").send({ status: "unavailable", store: store.kind, error: `writes failing: ${problem}`, live_sessions: live });
      }
      return reply.header("cache-control", "no-store").send({ status: "ok", store: store.kind, mode: config.mode, apis: config.apis ?? ALL_APIS, live_sessions: live });
    });
    app.get("/metrics", async (_req, reply) => {
      // The counters are in this process: a slow or hung store must not hold them back.
      const live = await withinMs(store.liveCount(now()), METRICS_STORE_WAIT_MS).catch(() => null);
      return reply.header("content-type", "text/plain; version=0.0.4").header("cache-control", "no-store").send(metrics.render(live));
    });
    app.setNotFoundHandler((_req, reply) => {
      reply.code(404).header("content-type", "application/json").header("access-control-allow-origin", "*")
        .header("cache-control", "no-store, no-transform").send(JSON_404);
    });
    app.setErrorHandler((err, _req, reply) => {
      const status = (err as { statusCode?: number }).statusCode ?? 500;
      if (status >= 500) reply.log.error({ err }, "internal error");
      reply.code(status >= 400 && status < 600 ? status : 500).header("content-type", "application/json")
        .header("access-control-allow-origin", "*")
        .send(JSON.stringify({ errcode: status === 413 ? "M_TOO_LARGE" : "M_UNKNOWN", error: status < 500 ? (err as Error).message : "Internal server error" }));
    });
    await app.ready();
    let closed: Promise<void> | undefined;
    return {
      app,
      store,
      close: () => (closed ??= (async () => {
        await app.close();
        if (ownsStore) await store.close();
      })()),
    };
  } catch (err) {
    await app.close().catch(() => undefined);
    if (ownsStore) await store.close();
    throw err;
  }
}

/** The value if it comes within `ms`, else null (the promise is left to settle on its own). */
async function withinMs<T>(value: Promise<T>, ms: number): Promise<T | null> {
  const timer = new AbortController();
  try {
    return await Promise.race([value, sleep(ms, null, { signal: timer.signal })]);
  } finally {
    timer.abort(); // the sleep's rejection is the race's, and ignored there
  }
}
