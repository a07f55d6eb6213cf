// What the plugin hands to the route modules of each API: the store, the limits and hooks, the
// clock, and the mode's authorization of creates. Built once per plugin instance.
import type { FastifyRequest, onRequestHookHandler } from "fastify";
import type { HeldRequests } from "./long-poll.js";
import type { RendezvousMetrics } from "./metrics.js";
import type { RendezvousStore } from "./store.js";
import type { MemoryStore } from "./store-memory.js";

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
  /**
   * `authenticated` mode: access tokens per client IP per window that the verifier is asked about
   * (tokens it answered recently are not counted). Beyond it discovery says create_available: false
   * and a create gets 429, without asking the homeserver. 0 = no limit.
   */
  tokenChecksPerWindow: number;
  windowMs: number;
  /** Largest request body accepted (the JSON-escaped 4096-byte `data` plus the token fit easily). */
  bodyLimitBytes: number;
  /**
   * Long-poll GETs held at once, in total and per client IP; beyond them a GET is answered at once. 0 = no cap.
   * ("Per client IP" everywhere: per IPv4 address, per IPv6 /64, see client-key.ts.)
   */
  maxHeld: number;
  maxHeldPerIp: number;
}

export interface RouteHooks {
  onRequest?: onRequestHookHandler;
}

/** What every prefix scope needs, even with its API off (it still answers preflights and 404s). */
export interface ScopeBasics {
  /** The host app registered @fastify/cors: our routes opt out of it and answer their own preflights. */
  readonly hostHasCors: boolean;
  readonly metrics: RendezvousMetrics | undefined;
}

export interface RouteContext extends ScopeBasics {
  readonly mode: Exclude<RendezvousMode, "off">;
  readonly store: RendezvousStore;
  /** The store when it is the in-process one: its synchronous lookup keeps the poll path promise-free. */
  readonly memory: MemoryStore | null;
  readonly limits: Limits;
  readonly now: () => number;
  /** Session lifetimes, fixed at creation, per API. */
  readonly ttlMs2025: number;
  readonly ttlMs2024: number;
  /** Origin (and path prefix) that 2024 session URLs start with; undefined = derived from each request. */
  readonly publicBaseUrl: string | undefined;
  /** Held long-poll GETs; null when long-poll is off. */
  readonly held: HeldRequests | null;
  /** What the answers advertise under "io.github.qr_login.long_poll"; null when long-poll is off. */
  readonly longPoll: { readonly query_parameter: string; readonly max_wait_ms: number } | null;
  /** Hooks of every session request (the per-IP request budget). */
  readonly requestHooks: RouteHooks;
  /** Hooks of creating POSTs (the per-IP create budget). */
  readonly createHooks: RouteHooks;
  /** Whether discovery may say create_available: true to this requester. */
  mayCreate(req: FastifyRequest): Promise<boolean>;
  /** Throws the Matrix error of a create this requester may not make (401 / 503); resolves otherwise. */
  authorizeCreate(req: FastifyRequest): Promise<void>;
}
