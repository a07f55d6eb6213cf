// What every CS route needs: the store, the token verifier, a wake-up signal for long-polling /sync,
// and the authenticated caller of the current request.
import type { EventEmitter } from "node:events";
import type { FastifyRequest } from "fastify";
import type { DevhomeAuth, TokenInfo } from "../types.js";
import { isObject } from "./json.js";
import type { JsonObject } from "./json.js";
import { MatrixError, notJson } from "./errors.js";
import type { CsStore } from "./store.js";

export interface CsContext {
  store: CsStore;
  auth: DevhomeAuth;
  serverName: string;
  /** Emits "change" whenever something a /sync could return was written. */
  changes: EventEmitter;
  now: () => number;
  /** URL shown in the UIA response when replacing cross-signing keys needs the user's approval. */
  crossSigningResetUrl: string;
  /** userId → time until which replacing the cross-signing identity is allowed. */
  resetApprovals: Map<string, number>;
  unstableFeatures: Record<string, boolean>;
}

const callers = new WeakMap<FastifyRequest, TokenInfo>();

export function setCaller(req: FastifyRequest, info: TokenInfo): void {
  callers.set(req, info);
}

/** The token's user and device; routes registered as authenticated always have one. */
export function caller(req: FastifyRequest): TokenInfo {
  const info = callers.get(req);
  if (!info) throw new MatrixError(401, "M_MISSING_TOKEN", "Missing access token");
  return info;
}

/** The request's JSON object body (Matrix request bodies are objects). */
export function body(req: FastifyRequest): JsonObject {
  const b: unknown = req.body;
  if (b === undefined || b === null) throw notJson("Request body required");
  if (!isObject(b)) throw new MatrixError(400, "M_BAD_JSON", "Request body must be a JSON object");
  return b;
}

export function param(req: FastifyRequest, name: string): string {
  const v = (req.params as Record<string, string | undefined>)[name];
  if (v === undefined || v === "") throw new MatrixError(400, "M_INVALID_PARAM", `missing path parameter ${name}`);
  return v;
}

export function query(req: FastifyRequest, name: string): string | undefined {
  const v = (req.query as Record<string, unknown> | undefined)?.[name];
  if (Array.isArray(v)) throw new MatrixError(400, "M_INVALID_PARAM", `query parameter ${name} given more than once`);
  return typeof v === "string" ? v : undefined;
}

export const ROOM_KEYS_ALGORITHM = "m.megolm_backup.v1.curve25519-aes-sha2";
