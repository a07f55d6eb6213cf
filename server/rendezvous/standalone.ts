// The rendezvous server as its own process: the plugin (both APIs) plus /health, /metrics, JSON 404s for
// every other path, pino logs without payloads, tokens or session ids, and graceful close.
import Fastify, { LogController } from "fastify";
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from "fastify";
import { RendezvousMetrics } from "./metrics.js";
import { redactUrl, openStore } from "./open-store.js";
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
  /** fastify trustProxy: true, a hop count, or addresses/CIDRs of trusted proxies. */
  trustProxy?: boolean | number | string | string[];
  /** pino level, or false for no logs. Default "info". */
  logLevel?: string | false;
  redisPrefix?: string;
  now?: () => number;
  purgeIntervalMs?: number;
}

export interface RunningRendezvousServer {
  url: string;
  app: FastifyInstance;
  store: RendezvousStore;
  close(): Promise<void>;
}

const SESSION_SEGMENT = /(\/rendezvous\/)[^/?#]+/;

/** Request URL for logs: the session id is a bearer capability, so it is never logged. */
function logUrl(url: string): string {
  return url.replace(SESSION_SEGMENT, "$1<id>").replace(/\?.*$/, "");
}

const JSON_404 = JSON.stringify({ errcode: "M_UNRECOGNIZED", error: "Unrecognized request" });

export async function startRendezvousServer(config: RendezvousServerConfig): Promise<RunningRendezvousServer> {
  const store = config.storeInstance ?? (await openStore(config.store, config.redisPrefix ? { redisPrefix: config.redisPrefix } : {}));
  const ownsStore = !config.storeInstance;
  const metrics = new RendezvousMetrics();
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
    // fastify accepts a hop count at runtime; its types only list the other forms.
    trustProxy: (config.trustProxy ?? false) as boolean,
    // Clients poll about once a second: per-request log lines only when asked for (debug/trace).
    logController: new LogController({ disableRequestLogging: !(config.logLevel === "debug" || config.logLevel === "trace") }),
    // Malformed URLs and the like get a Matrix error too.
    frameworkErrors: (err: FastifyError, _req: FastifyRequest, reply: FastifyReply) => {
      reply.code(400).header("content-type", "application/json").header("access-control-allow-origin", "*")
        .header("cache-control", "no-store, no-transform")
        .send(JSON.stringify({ errcode: "M_INVALID_PARAM", error: `Bad request: ${err.message}` }));
    },
    return503OnClosing: true,
    // Requests Node's HTTP parser rejects (malformed framing, bad headers) get a Matrix error too.
    clientErrorHandler: (err: Error & { code?: string }, socket) => {
      if (process.env.RZ_DEBUG_CLIENT_ERRORS) console.error("clientError", err.code, err.message);
      if (!socket.writable) return;
      const body = JSON.stringify({ errcode: "M_INVALID_PARAM", error: `Malformed HTTP request (${err.code ?? "parse error"})` });
      socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Access-Control-Allow-Origin: *\r\nCache-Control: no-store, no-transform\r\nConnection: close\r\n\r\n${body}`);
    },
  };
  const app: FastifyInstance = Fastify(options);
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
      try {
        const live = await store.liveCount(now());
        return reply.header("cache-control", "no-store").send({ status: "ok", store: store.kind, mode: config.mode, apis: config.apis ?? ALL_APIS, live_sessions: live });
      } catch (err) {
        reply.log.warn({ err: (err as Error).message }, "health: store unavailable");
        return reply.code(503).header("cache-control", "no-store").send({ status: "unavailable", store: store.kind });
      }
    });
    app.get("/metrics", async (_req, reply) => {
      const live = await store.liveCount(now()).catch(() => null);
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
    const address = await app.listen({ host: config.host, port: config.port });
    app.log.info({ store: store.kind === "redis" ? redactUrl(config.store) : config.store, mode: config.mode }, "rendezvous server listening");
    let closed: Promise<void> | undefined;
    return {
      url: address,
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
