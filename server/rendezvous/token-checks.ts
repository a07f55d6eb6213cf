// Access-token checks of `authenticated` mode, as the routes ask for them. Each check of a token not
// seen recently costs the verifier a round trip to the homeserver, and discovery accepts any bearer
// token without authentication, so a client sending a fresh bogus token per request would turn the
// server into an amplifier against the homeserver. Two guards:
//   - outcomes are remembered by the token's SHA-256 digest (valid ones for a minute, refusals for
//     10 s), whatever verifier the host plugged in, so repeating a token costs nothing;
//   - tokens not remembered are checked at most `budget` times per client (IPv6: per /64) per window;
//     beyond that the answer is "limited" without asking the homeserver.
import { createHash } from "node:crypto";
import type { FastifyRequest } from "fastify";
import type { AccessTokenVerifier } from "./verifier.js";

export type TokenCheck = "valid" | "invalid" | { readonly limited: true; readonly retryAfterMs: number };

/** Resolves whether this client may have one more token checked now (and counts it), or how long to wait. */
export type CheckBudget = (req: FastifyRequest) => Promise<{ ok: true } | { ok: false; retryAfterMs: number }>;

export interface TokenChecksOptions {
  verifier: AccessTokenVerifier;
  /** null: no per-client budget. */
  budget: CheckBudget | null;
  now: () => number;
  validTtlMs?: number;
  refusedTtlMs?: number;
  maxEntries?: number;
}

export class TokenChecks {
  private readonly cache = new Map<string, { until: number; valid: boolean }>();
  private readonly validTtlMs: number;
  private readonly refusedTtlMs: number;
  private readonly maxEntries: number;

  constructor(private readonly opts: TokenChecksOptions) {
    this.validTtlMs = opts.validTtlMs ?? 60_000;
    this.refusedTtlMs = opts.refusedTtlMs ?? 10_000;
    this.maxEntries = opts.maxEntries ?? 10_000;
  }

  /** Throws what the verifier throws when it cannot answer (VerifierUnavailableError). */
  async check(req: FastifyRequest, token: string): Promise<TokenCheck> {
    const key = createHash("sha256").update(token).digest("base64url");
    const t = this.opts.now();
    const hit = this.cache.get(key);
    if (hit && hit.until > t) return hit.valid ? "valid" : "invalid";
    if (this.opts.budget) {
      const allowed = await this.opts.budget(req);
      if (!allowed.ok) return { limited: true, retryAfterMs: allowed.retryAfterMs };
    }
    const valid = (await this.opts.verifier(token)) !== null;
    this.cache.delete(key);
    this.cache.set(key, { until: this.opts.now() + (valid ? this.validTtlMs : this.refusedTtlMs), valid });
    if (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
    return valid ? "valid" : "invalid";
  }
}
