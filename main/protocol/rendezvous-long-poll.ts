// qr-login's long-poll extension of MSC4388 as the client sees it (docs/protocol.md "Long-poll"): a
// server may say, in the 200 body of discovery, create and session GETs, that it holds
// `GET …/{id}?<parameter>=<token>` until the session moves past that token or a bound passes. The
// client then waits for a message with one held GET instead of a GET per interval; whenever the
// server's latest answer does not advertise it, the client polls as before.

/** The body field by which a server advertises long-poll. */
export const LONG_POLL_FIELD = "io.github.qr_login.long_poll";

/** Long-poll as the server advertised it. */
export interface LongPollSupport {
  /** Query parameter that carries the sequence token the client already has (the server names it). */
  readonly queryParameter: string;
  /** The server's hold bound. */
  readonly maxWaitMs: number;
}

/** A longer advertised hold is not believed: a broken advertisement must not park a sign-in for minutes. */
const MAX_TRUSTED_HOLD_MS = 60_000;
const QUERY_PARAMETER = /^[A-Za-z0-9._~-]{1,64}$/;

/** The advertisement in a 200 body, if there is a well-formed one. */
export function parseLongPoll(body: Record<string, unknown> | null): LongPollSupport | undefined {
  const v = body?.[LONG_POLL_FIELD];
  if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
  const { query_parameter: name, max_wait_ms: wait } = v as Record<string, unknown>;
  if (typeof name !== "string" || !QUERY_PARAMETER.test(name)) return undefined;
  if (typeof wait !== "number" || !Number.isFinite(wait) || wait <= 0) return undefined;
  return { queryParameter: name, maxWaitMs: Math.min(wait, MAX_TRUSTED_HOLD_MS) };
}

/** The path of a held GET: the session's path naming the token the client holds. */
export function heldGetPath(sessionPath: string, support: LongPollSupport, token: string): string {
  return `${sessionPath}?${encodeURIComponent(support.queryParameter)}=${encodeURIComponent(token)}`;
}
