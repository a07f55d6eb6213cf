// Configuration of the standalone server: built-in defaults < config file (YAML or JSON) <
// environment (QR_LOGIN_RENDEZVOUS_*) < command-line flags.
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import YAML from "yaml";
import type { Limits, RendezvousMode } from "./plugin.js";
import { normalizePublicBaseUrl, parseMode } from "./plugin.js";
import { DEFAULT_TTL_MS, MAX_TTL_2024_MS, MAX_TTL_MS, MIN_TTL_2024_MS, MIN_TTL_MS } from "./protocol.js";
import { DEFAULT_LONG_POLL_MS, MAX_LONG_POLL_MS } from "./long-poll.js";
import type { RendezvousApi } from "./store.js";
import type { ConnectionLimits } from "./connection-guard.js";
import type { TrustProxy } from "./proxy-trust.js";
import { trustedPeer } from "./proxy-trust.js";
import type { RendezvousServerConfig } from "./standalone.js";

export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_PORT = 8090;

/** Default store of `qr-login server`: SQLite under $XDG_DATA_HOME (or ~/.local/share)/qr-login/. */
export function defaultSqlitePath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : path.join(os.homedir(), ".local", "share");
  return path.join(base, "qr-login", "rendezvous.sqlite");
}

/** Settings as strings/numbers from any one source; undefined = not set there. */
export interface ConfigLayer {
  listen?: string;
  mode?: string;
  store?: string;
  ttl?: string | number;
  ttl_2024?: string | number;
  api_2025?: string | boolean;
  api_2024?: string | boolean;
  public_base_url?: string;
  long_poll_ms?: string | number;
  long_poll_max_held?: string | number;
  long_poll_max_held_per_ip?: string | number;
  homeserver?: string;
  trust_proxy?: string | number | boolean | string[];
  log_level?: string;
  max_sessions?: string | number;
  max_sessions_per_ip?: string | number;
  create_per_minute?: string | number;
  requests_per_minute?: string | number;
  token_checks_per_minute?: string | number;
  request_timeout_ms?: string | number;
  max_connections_per_ip?: string | number;
  max_pipelined?: string | number;
  redis_prefix?: string;
  redis_timeout_ms?: string | number;
  sqlite_busy_timeout_ms?: string | number;
}

const KEYS: readonly (keyof ConfigLayer)[] = [
  "listen", "mode", "store", "ttl", "ttl_2024", "api_2025", "api_2024", "public_base_url",
  "long_poll_ms", "long_poll_max_held", "long_poll_max_held_per_ip", "homeserver", "trust_proxy", "log_level", "max_sessions",
  "max_sessions_per_ip", "create_per_minute", "requests_per_minute", "token_checks_per_minute", "request_timeout_ms",
  "max_connections_per_ip", "max_pipelined", "redis_prefix", "redis_timeout_ms", "sqlite_busy_timeout_ms",
];

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

export function readConfigFile(file: string): ConfigLayer {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    // YAML 1.2 (a superset of JSON): an unquoted `mode: off` stays the string "off".
    parsed = /\.json$/i.test(file) ? JSON.parse(text) : YAML.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid ${/\.json$/i.test(file) ? "JSON" : "YAML"}: ${(err as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== "object" || Array.isArray(parsed)) throw new ConfigError(`config file ${file} must hold a mapping`);
  const layer: ConfigLayer = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    const key = k.replace(/-/g, "_") as keyof ConfigLayer;
    if (!KEYS.includes(key)) throw new ConfigError(`config file ${file}: unknown setting "${k}"`);
    // A YAML 1.1 habit: `mode: false` meaning off.
    (layer as Record<string, unknown>)[key] = key === "mode" && v === false ? "off" : v;
  }
  return layer;
}

export function envLayer(env: NodeJS.ProcessEnv): ConfigLayer {
  const layer: ConfigLayer = {};
  for (const key of KEYS) {
    const v = env[`QR_LOGIN_RENDEZVOUS_${key.toUpperCase()}`];
    if (v !== undefined && v !== "") (layer as Record<string, unknown>)[key] = v;
  }
  return layer;
}

function int(name: string, v: string | number, min: number): number {
  const n = typeof v === "number" ? v : /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new ConfigError(`${name} must be an integer ≥ ${min}, got "${v}"`);
  return n;
}

export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value) ?? /^()()(\d+)$/.exec(value);
  if (!m) throw new ConfigError(`listen must be HOST:PORT (or PORT), got "${value}"`);
  const port = Number(m[3]);
  if (port > 65535) throw new ConfigError(`listen port out of range: ${port}`);
  return { host: m[1] || m[2] || DEFAULT_HOST, port };
}

function onOff(name: string, v: string | boolean): boolean {
  if (typeof v === "boolean") return v;
  const t = v.trim().toLowerCase();
  if (t === "on" || t === "true" || t === "yes" || t === "1") return true;
  if (t === "off" || t === "false" || t === "no" || t === "0") return false;
  throw new ConfigError(`${name} must be on or off, got "${v}"`);
}

function trustProxy(v: NonNullable<ConfigLayer["trust_proxy"]>): TrustProxy {
  let value: TrustProxy;
  if (typeof v === "boolean" || typeof v === "number" || Array.isArray(v)) value = v;
  else if (v === "true") value = true;
  else if (v === "false" || v === "") value = false;
  else if (/^\d+$/.test(v)) value = Number(v);
  else value = v.split(",").map((s) => s.trim()).filter(Boolean);
  if (typeof value === "number" && !Number.isSafeInteger(value)) throw new ConfigError(`trust_proxy: a hop count must be a whole number, got ${value}`);
  try {
    trustedPeer(value);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  return value;
}

/** A timeout in ms: 0 (none, where allowed) or at least `min`. */
function timeoutMs(name: string, v: string | number, min: number, zeroAllowed: boolean): number {
  const n = int(name, v, 0);
  if ((n === 0 && !zeroAllowed) || (n !== 0 && n < min)) throw new ConfigError(`${name} must be ${zeroAllowed ? "0 (none) or " : ""}at least ${min}, got ${n}`);
  return n;
}

/** Merges the layers (later wins) into a server config. */
export function resolveConfig(layers: readonly ConfigLayer[], env: NodeJS.ProcessEnv = process.env): RendezvousServerConfig {
  const c: ConfigLayer = Object.assign({}, ...layers);
  const { host, port } = c.listen !== undefined ? parseListen(String(c.listen)) : { host: DEFAULT_HOST, port: DEFAULT_PORT };
  let mode: RendezvousMode;
  try {
    mode = parseMode(String(c.mode ?? "open"));
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const ttlMs = c.ttl !== undefined ? int("ttl (seconds)", c.ttl, 0) * 1000 : DEFAULT_TTL_MS;
  if (ttlMs < MIN_TTL_MS || ttlMs > MAX_TTL_MS) {
    throw new ConfigError(`ttl must be between ${MIN_TTL_MS / 1000} and ${MAX_TTL_MS / 1000} seconds (MSC4388), got ${ttlMs / 1000}`);
  }
  // The 2024 lifetime: its own range (Synapse's fixed 60 s up to the 2025 maximum), by default the 2025 one.
  const ttl2024Ms = c.ttl_2024 !== undefined ? int("ttl_2024 (seconds)", c.ttl_2024, 0) * 1000 : ttlMs;
  if (ttl2024Ms < MIN_TTL_2024_MS || ttl2024Ms > MAX_TTL_2024_MS) {
    throw new ConfigError(`ttl_2024 must be between ${MIN_TTL_2024_MS / 1000} and ${MAX_TTL_2024_MS / 1000} seconds, got ${ttl2024Ms / 1000}`);
  }
  const apis: RendezvousApi[] = [];
  if (c.api_2025 === undefined || onOff("api_2025", c.api_2025)) apis.push("2025");
  if (c.api_2024 === undefined || onOff("api_2024", c.api_2024)) apis.push("2024");
  let publicBaseUrl: string | undefined;
  if (c.public_base_url !== undefined && c.public_base_url !== "") {
    try {
      publicBaseUrl = normalizePublicBaseUrl(String(c.public_base_url));
    } catch (err) {
      throw new ConfigError(`public_base_url: ${(err as Error).message}`);
    }
  }
  const longPollMs = c.long_poll_ms !== undefined ? int("long_poll_ms", c.long_poll_ms, 0) : DEFAULT_LONG_POLL_MS;
  if (longPollMs > MAX_LONG_POLL_MS) throw new ConfigError(`long_poll_ms must be at most ${MAX_LONG_POLL_MS} (below common proxy timeouts; 0 = off), got ${longPollMs}`);
  const limits: Partial<Limits> = {};
  if (c.long_poll_max_held !== undefined) limits.maxHeld = int("long_poll_max_held", c.long_poll_max_held, 0);
  if (c.long_poll_max_held_per_ip !== undefined) limits.maxHeldPerIp = int("long_poll_max_held_per_ip", c.long_poll_max_held_per_ip, 0);
  if (c.max_sessions !== undefined) limits.maxSessions = int("max_sessions", c.max_sessions, 0);
  if (c.max_sessions_per_ip !== undefined) limits.maxSessionsPerIp = int("max_sessions_per_ip", c.max_sessions_per_ip, 0);
  if (c.create_per_minute !== undefined) limits.createPerWindow = int("create_per_minute", c.create_per_minute, 0);
  if (c.requests_per_minute !== undefined) limits.requestsPerWindow = int("requests_per_minute", c.requests_per_minute, 0);
  if (c.token_checks_per_minute !== undefined) limits.tokenChecksPerWindow = int("token_checks_per_minute", c.token_checks_per_minute, 0);
  if (c.create_per_minute !== undefined || c.requests_per_minute !== undefined || c.token_checks_per_minute !== undefined) limits.windowMs = 60_000;
  const connectionLimits: Partial<ConnectionLimits> = {};
  if (c.max_connections_per_ip !== undefined) connectionLimits.maxConnectionsPerIp = int("max_connections_per_ip", c.max_connections_per_ip, 0);
  if (c.max_pipelined !== undefined) connectionLimits.maxPipelined = int("max_pipelined", c.max_pipelined, 0);
  const store = c.store ?? `sqlite:${defaultSqlitePath(env)}`;
  if (mode === "authenticated" && !c.homeserver) {
    throw new ConfigError("mode authenticated needs homeserver (the base URL whose /account/whoami verifies access tokens)");
  }
  return {
    host, port, mode, store, ttlMs, ttl2024Ms, apis, longPollMs, limits, connectionLimits,
    ...(c.request_timeout_ms !== undefined ? { requestTimeoutMs: timeoutMs("request_timeout_ms", c.request_timeout_ms, 1000, true) } : {}),
    ...(c.redis_timeout_ms !== undefined ? { redisTimeoutMs: timeoutMs("redis_timeout_ms", c.redis_timeout_ms, 100, false) } : {}),
    ...(c.sqlite_busy_timeout_ms !== undefined ? { sqliteBusyTimeoutMs: int("sqlite_busy_timeout_ms", c.sqlite_busy_timeout_ms, 0) } : {}),
    ...(publicBaseUrl ? { publicBaseUrl } : {}),
    ...(c.homeserver ? { homeserver: c.homeserver } : {}),
    ...(c.trust_proxy !== undefined ? { trustProxy: trustProxy(c.trust_proxy) } : {}),
    ...(c.log_level ? { logLevel: c.log_level === "silent" ? false : c.log_level } : {}),
    ...(c.redis_prefix ? { redisPrefix: c.redis_prefix } : {}),
  };
}
