// What both rendezvous APIs answer alike: Matrix JSON errors with CORS, the mapping of anything
// thrown to one, the MSC4388 Sec-Fetch rule, store outages as 503, and the access-token helpers.
import type { FastifyReply, FastifyRequest } from "fastify";

/** A Matrix error: status + errcode + human-readable message (+ optional extra fields). */
export class MatrixHttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly errcode: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Headers of every JSON response: CORS (non-preflight), no caching or transforming by proxies. */
export const JSON_HEADERS = {
  "content-type": "application/json",
  "cache-control": "no-store, no-transform",
  "access-control-allow-origin": "*",
};

export function send(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).headers(JSON_HEADERS).send(body);
}

export function sendError(reply: FastifyReply, err: MatrixHttpError): FastifyReply {
  for (const [k, v] of Object.entries(err.headers)) reply.header(k, v);
  return send(reply, err.statusCode, JSON.stringify({ errcode: err.errcode, error: err.message, ...err.extra }));
}

export const unrecognized = () => new MatrixHttpError(404, "M_UNRECOGNIZED", "Unrecognized request");
export const methodNotAllowed = () => new MatrixHttpError(405, "M_UNRECOGNIZED", "Method not allowed on this rendezvous path");
export const notFound = () => new MatrixHttpError(404, "M_NOT_FOUND", "Rendezvous session not found");
export const forbidden = (msg: string) => new MatrixHttpError(403, "M_FORBIDDEN", msg);

/** Maps anything thrown inside our routes (ours, fastify's, the rate limiter's) to a Matrix error. */
export function toMatrixError(err: unknown): MatrixHttpError {
  if (err instanceof MatrixHttpError) return err;
  const e = err as { statusCode?: number; code?: string; message?: string; retryAfterMs?: number };
  const status = typeof e.statusCode === "number" ? e.statusCode : 500;
  if (status === 429) {
    const ms = Math.max(0, Math.ceil(e.retryAfterMs ?? 1000));
    return new MatrixHttpError(429, "M_LIMIT_EXCEEDED", "Too many requests", { retry_after_ms: ms });
  }
  if (status === 413) return new MatrixHttpError(413, "M_TOO_LARGE", "Request body too large");
  if (status === 415 || status === 400) return new MatrixHttpError(400, "M_INVALID_PARAM", `Bad request: ${e.message ?? "malformed"}`);
  if (status === 404) return unrecognized();
  if (status === 405) return methodNotAllowed();
  if (status >= 400 && status < 500) return new MatrixHttpError(status, "M_UNKNOWN", e.message ?? "Bad request");
  return new MatrixHttpError(500, "M_UNKNOWN", "Internal server error");
}

/** MSC4388 unsafe-content rule: refuse GETs that look like a browser navigation or a subresource load. */
export function checkSecFetch(req: FastifyRequest): void {
  const h = req.headers;
  const dest = first(h["sec-fetch-dest"]);
  if (dest !== undefined && dest !== "empty") throw forbidden("Rendezvous content is not accessible from the request destination");
  if (first(h["sec-fetch-mode"]) === "navigate") throw forbidden("Rendezvous content is not accessible via top-level navigation");
  if (first(h["sec-fetch-user"]) === "?1") throw forbidden("Rendezvous content is not accessible from requests with user activation");
  if (first(h["sec-fetch-site"]) === "none") throw forbidden("Rendezvous content is not accessible from requests from user interaction");
}

function first(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined ? undefined : s.split(",")[0]!.trim();
}

/** A store failure (Redis unreachable, SQLite busy…) is a temporary 503, logged without request data. */
export function storeDown(req: FastifyRequest): (err: unknown) => never {
  return (err) => {
    req.log.error({ err: (err as Error).message }, "rendezvous: store unavailable");
    throw new MatrixHttpError(503, "M_UNKNOWN", "Rendezvous store temporarily unavailable", {}, { "retry-after": "1" });
  };
}

/** The access token of an `Authorization: Bearer …` header (the scheme in any case), or null. */
export function bearerToken(req: FastifyRequest): string | null {
  const auth = req.headers.authorization;
  if (typeof auth !== "string") return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
  return m ? m[1]! : null;
}

export function retryAfterHeaders(ms: number): Record<string, string> {
  return { "retry-after": String(Math.max(1, Math.ceil(ms / 1000))) };
}
