// Public API of the reference MSC4388 rendezvous server.
//
// In another fastify app (same origin as a homeserver):
//   await app.register(rendezvousPlugin, { mode: "authenticated", store: await openStore("memory"),
//     verifier: async (token) => lookUp(token) /* { userId } | null */ });
// serves the 2025 API under both prefixes (v1 and unstable io.element.msc4388) and the 2024 API under
// unstable org.matrix.msc4108, each with its own CORS preflights, 404s and 405s, and leaves every
// other path of the host alone. Standalone: startRendezvousServer(config) or `qr-login server`;
// buildRendezvousServer(config) is the same server not listening, for `app.inject()`.
export type { Limits, RendezvousMode, RendezvousOptions } from "./plugin.js";
export { ALL_APIS, DEFAULT_LIMITS, MatrixHttpError, normalizePublicBaseUrl, parseMode, rendezvousPlugin } from "./plugin.js";
export type { AccessTokenVerifier, RemoteVerifierOptions } from "./verifier.js";
export { remoteWhoamiVerifier, VerifierUnavailableError } from "./verifier.js";
export type { CreateParams, CreateResult, RendezvousApi, RendezvousStore, StoredSession, UpdateResult } from "./store.js";
export { sequenceToken } from "./store.js";
export { MemoryStore } from "./store-memory.js";
export { SqliteStore } from "./store-sqlite.js";
export { RedisStore } from "./store-redis.js";
export { openStore } from "./open-store.js";
export { RendezvousMetrics } from "./metrics.js";
export type { RendezvousServer, RendezvousServerConfig, RunningRendezvousServer } from "./standalone.js";
export { buildRendezvousServer, startRendezvousServer } from "./standalone.js";
export * from "./protocol.js";
