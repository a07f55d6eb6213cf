// Wire constants of the MSC4388 insecure rendezvous session, as this server serves them.
// Both prefixes are served; they differ only in the errcode of a compare-and-swap conflict
// (MSC4388 "Unstable prefix" section).

import { PROFILES, RENDEZVOUS_PATH_STABLE, RENDEZVOUS_PATH_UNSTABLE } from "../../main/protocol/profile.js";

export { RENDEZVOUS_PATH_UNSTABLE };
export const RENDEZVOUS_PATH_V1 = RENDEZVOUS_PATH_STABLE;

export interface RendezvousPrefix {
  readonly path: string;
  readonly concurrentWriteErrcode: string;
}

/** The client's wire profiles define which errcode goes with which path; the server serves both. */
export const RENDEZVOUS_PREFIXES: readonly RendezvousPrefix[] = [
  ...new Map(Object.values(PROFILES).map((p) => [p.rendezvousPath, { path: p.rendezvousPath, concurrentWriteErrcode: p.concurrentWriteErrcode }])).values(),
];

/** MSC4388 "Maximum payload size": the server MUST enforce 4096 bytes (UTF-8) on `data`. */
export const MAX_DATA_BYTES = 4096;

/** MSC4388 "Maximum duration": minimum SHOULD be 120 s, maximum SHOULD be 300 s. */
export const MIN_TTL_MS = 120_000;
export const MAX_TTL_MS = 300_000;
export const DEFAULT_TTL_MS = 180_000;

/** Our ids: 16 random bytes as base64url = 22 characters (a shorter id makes a less dense QR). */
export const ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;

/** Opaque identifier grammar of the Matrix spec (ids and sequence tokens must comply). */
export const OPAQUE_ID_PATTERN = /^[0-9A-Za-z._~-]{1,255}$/;

/**
 * The 2024 rendezvous API (MSC4108 as Element shipped it in 2024: ETags, text/plain bodies). Its
 * creating POST and its session URLs share this one unstable prefix here (Synapse hands out
 * `/_synapse/client/rendezvous/<id>` instead; clients take the URL from the POST's answer).
 */
export const MSC4108_PATH = "/_matrix/client/unstable/org.matrix.msc4108/rendezvous";

/** The 2024 API's body limit (Synapse's and the MSC's 4096 bytes), on the raw bytes. */
export const MAX_2024_BODY_BYTES = 4096;

/**
 * Lifetime range of 2024 sessions. Synapse fixes 60 s, which users find too short to scan and type
 * a code in; we allow 60–300 s (the 2025 range's upper end) and default to the 2025 lifetime.
 */
export const MIN_TTL_2024_MS = 60_000;
export const MAX_TTL_2024_MS = 300_000;
