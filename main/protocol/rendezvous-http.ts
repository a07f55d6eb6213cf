// The HTTP the rendezvous client speaks: the one function it sends requests with (injectable), one
// answer as it sees it, and how an answer is read (its JSON body, errcode, Retry-After, typed errors).
import { RendezvousError } from "./rendezvous-errors.js";

/** `fetch` as the client calls it (tests and the app inject their own). */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** One answer, its body parsed when it is a JSON object. */
export interface HttpResult {
  readonly status: number;
  readonly body: Record<string, unknown> | null;
  readonly headers: Headers;
  /**
   * An earlier attempt of this request went unanswered (lost, timed out) or was answered 5xx: the
   * server may have acted on it. For a PUT: its write may have landed although we never saw the answer.
   */
  readonly uncertain: boolean;
}

export const CONCURRENT_WRITE_ERRCODES = new Set(["M_CONCURRENT_WRITE", "IO_ELEMENT_MSC4388_CONCURRENT_WRITE"]);

export function errcodeOf(r: Pick<HttpResult, "body">): string | undefined {
  const e = r.body?.["errcode"];
  return typeof e === "string" ? e : undefined;
}

/** The body when it is a JSON object; null for anything else (empty, not JSON, an array, a scalar). */
export function parseJsonObject(text: string): Record<string, unknown> | null {
  if (text.length === 0) return null;
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** `retry_after_ms` from the Matrix error body, else a `Retry-After` header in seconds. */
export function retryAfterMs(r: Pick<HttpResult, "body" | "headers">): number | undefined {
  const fromBody = r.body?.["retry_after_ms"];
  if (typeof fromBody === "number" && Number.isFinite(fromBody) && fromBody >= 0) return fromBody;
  const header = r.headers.get("retry-after");
  if (header !== null && /^\d+$/.test(header.trim())) return Number(header.trim()) * 1_000;
  return undefined;
}

export function httpError(r: Pick<HttpResult, "status" | "body">, what: string): RendezvousError {
  const errcode = errcodeOf(r);
  const detail = typeof r.body?.["error"] === "string" ? `: ${r.body["error"] as string}` : "";
  const info = { status: r.status, errcode };
  switch (r.status) {
    case 401:
    case 403:
      return new RendezvousError("rendezvous_forbidden", `${what}: ${r.status} ${errcode ?? ""}${detail}`, info);
    case 413:
      return new RendezvousError("rendezvous_too_large", `${what}: payload too large${detail}`, info);
    default:
      return new RendezvousError("rendezvous_http_error", `${what}: unexpected HTTP ${r.status} ${errcode ?? ""}${detail}`, info);
  }
}
