// `qr-login server`: the reference MSC4388 rendezvous server, standalone.
import type { ConfigLayer } from "../../server/rendezvous/config.js";
import { ConfigError, envLayer, readConfigFile, resolveConfig } from "../../server/rendezvous/config.js";
import { startRendezvousServer } from "../../server/rendezvous/standalone.js";
import { parseCommandArgs, UsageError } from "./args.js";
import { nextStopSignal } from "./stop-signals.js";

export const summary = "run the rendezvous server, 2025 and 2024 APIs (default 127.0.0.1:8090, SQLite store)";

const HELP = `usage: qr-login server [options]

Runs the rendezvous server: the 2025 API (MSC4388) on /_matrix/client/v1/rendezvous and
/_matrix/client/unstable/io.element.msc4388/rendezvous, the 2024 API (MSC4108 2024, ETags) on
/_matrix/client/unstable/org.matrix.msc4108/rendezvous (usable as Synapse's
msc4108_delegation_endpoint), plus /health and /metrics.

options (flags win over QR_LOGIN_RENDEZVOUS_* environment variables, which win over the config file):
  --config FILE            YAML or JSON file with the settings below (snake_case keys)
  --listen HOST:PORT       default 127.0.0.1:8090                      (listen)
  --mode MODE              open | authenticated | off (public = open)  (mode, default open)
  --store STORE            memory | sqlite:PATH | redis://HOST:PORT    (store, default
                           sqlite:$XDG_DATA_HOME/qr-login/rendezvous.sqlite, or ~/.local/share/...)
  --ttl SECONDS            session lifetime, 120..300, default 180     (ttl)
  --ttl-2024 SECONDS       2024 session lifetime, 60..300, default ttl (ttl_2024)
  --api-2025 on|off        serve the 2025 API (api_2025, default on)
  --api-2024 on|off        serve the 2024 API (api_2024, default on)
  --public-base-url URL    where 2024 session URLs start, e.g. https://rz.example.org/ (public_base_url;
                           default: the POST's scheme and Host, X-Forwarded-* with --trust-proxy)
  --long-poll-ms MS        hold GETs that name the state the client has up to MS, at most 25000
                           (long_poll_ms, default 20000; 0 = off)
  --long-poll-max-held N   held GETs at once (long_poll_max_held, default 10000; 0 = no cap)
  --long-poll-max-held-per-ip N   per client IP (long_poll_max_held_per_ip, default 100; 0 = no cap)
  --homeserver URL         verifies access tokens via /account/whoami in authenticated mode (homeserver)
  --token-checks-per-minute N   tokens per client IP per minute sent to the homeserver in authenticated
                           mode (token_checks_per_minute, default 30; 0 = no limit)
  --trust-proxy VALUE      comma-separated proxy addresses/CIDRs | hop count | true (trust_proxy;
                           true lets clients forge their address)
  --max-sessions N         live sessions in total (max_sessions, default 100000; 0 = no cap)
  --max-sessions-per-ip N  live sessions per client IP (max_sessions_per_ip, default 50)
  --create-per-minute N    creates per IP per minute (create_per_minute, default 30; 0 = off)
  --requests-per-minute N  other requests per IP per minute (requests_per_minute, default 3000)
  --request-timeout-ms MS  time to receive a request, headers and body (request_timeout_ms,
                           default 10000; 0 = none); held long-poll GETs are not affected
  --max-connections-per-ip N   open connections per client IP, not counting trusted proxies
                           (max_connections_per_ip, default 200; 0 = no cap)
  --max-pipelined N        unanswered pipelined requests per connection before it is closed
                           (max_pipelined, default 16; 0 = no cap)
  --redis-prefix PREFIX    key prefix in Redis (redis_prefix, default qrl:rz:)
  --redis-timeout-ms MS    bound on a Redis command or connect (redis_timeout_ms, default 2000)
  --sqlite-busy-timeout-ms MS  wait for another process's lock on the SQLite file, without
                           blocking other requests (sqlite_busy_timeout_ms, default 2000)
  --log-level LEVEL        pino level or silent (log_level, default info)`;

/** The settings a flag may give (each also a config key, with `_` for `-`). */
const SETTINGS = ["listen", "mode", "store", "ttl", "ttl-2024", "api-2025", "api-2024", "public-base-url",
  "long-poll-ms", "long-poll-max-held", "long-poll-max-held-per-ip", "homeserver", "trust-proxy", "max-sessions",
  "max-sessions-per-ip", "create-per-minute", "requests-per-minute", "token-checks-per-minute", "request-timeout-ms",
  "max-connections-per-ip", "max-pipelined", "redis-prefix", "redis-timeout-ms", "sqlite-busy-timeout-ms", "log-level"] as const;

const OPTIONS = {
  config: { type: "string" },
  ...(Object.fromEntries(SETTINGS.map((name) => [name, { type: "string" }])) as Record<(typeof SETTINGS)[number], { readonly type: "string" }>),
  help: { type: "boolean" },
} as const;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const flags: ConfigLayer = {};
  for (const name of SETTINGS) {
    const v = values[name];
    if (v !== undefined) (flags as Record<string, string>)[name.replace(/-/g, "_")] = v;
  }
  const configFile = values.config ?? process.env.QR_LOGIN_RENDEZVOUS_CONFIG;
  let config;
  try {
    config = resolveConfig([configFile ? readConfigFile(configFile) : {}, envLayer(process.env), flags]);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  const server = await startRendezvousServer(config);
  const storeText = config.store.startsWith("redis") ? "redis" : config.store;
  const apis = (config.apis ?? []).map((api) => (api === "2024" ? `2024 (ttl ${(config.ttl2024Ms ?? 0) / 1000} s)` : "2025")).join(" + ") || "none";
  const longPoll = config.longPollMs ? `long-poll ${config.longPollMs} ms` : "long-poll off";
  console.log(`rendezvous server (${config.mode}, APIs ${apis}, store ${storeText}, ttl ${(config.ttlMs ?? 0) / 1000} s, ${longPoll}) listening on ${server.url}`);
  console.log(`${await nextStopSignal()}: shutting down`);
  await server.close().catch((err: unknown) => console.error(`shutdown failed: ${(err as Error).message}`));
  return 0;
}
