// The doctor's HTTP: every request bounded by a timeout, redirects followed by hand (so a loop is a
// finding, not a hang), every failure a typed ProbeError in words an operator can act on, and every
// answer recorded (its Date header for the clock check, its origin for the TLS check).
//
// Requests look like the clients' own: `Accept-Encoding` as browsers and Element X send it (without it
// a compressing proxy never shows what it does to answers), no cookies, no credentials.
import { parseJsonObject, type FetchLike } from "../protocol/rendezvous-http.js";

/** What browsers, OkHttp (Element X Android) and URLSession (iOS) accept: compression is on for everyone. */
export const CLIENT_ACCEPT_ENCODING = "gzip, deflate, br";

export type ProbeFailureKind = "dns" | "refused" | "reset" | "tls" | "timeout" | "redirect_loop" | "too_many_redirects" | "blocked_port" | "network" | "cancelled";

export class ProbeError extends Error {
  override readonly name = "ProbeError";
  constructor(
    readonly kind: ProbeFailureKind,
    readonly url: string,
    message: string,
    /** The system's code (ECONNREFUSED, DEPTH_ZERO_SELF_SIGNED_CERT, …) when there was one. */
    readonly code?: string,
  ) {
    super(message);
  }
}

/** One answer as the client received it (body decoded as fetch decodes it; headers as sent). */
export interface Answer {
  readonly url: string;
  readonly method: string;
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The body as a JSON object, or null (not JSON, or not an object). */
  readonly json: Record<string, unknown> | null;
  /** Monotonic ms the request took. */
  readonly elapsedMs: number;
  /** Local wall clock when the request went out and when its headers came back. */
  readonly sentAt: number;
  readonly receivedAt: number;
  /** URLs of the redirects followed to get here (empty: none). */
  readonly redirects: readonly string[];
}

export interface RequestSpec {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** Follow up to this many redirects as fetch does (default 0: a 3xx is the answer). */
  readonly follow?: number;
  /** More time than the usual timeout (a held GET). */
  readonly extraMs?: number;
}

export interface ProbeOptions {
  readonly fetch?: FetchLike;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** The wall clock (tests may shift it). */
  readonly now?: () => number;
}

const TLS_CODES = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|EPROTO|HOSTNAME|ALTNAME/i;

/** The innermost error code undici reports (it nests the system error as `cause`). */
function codeOf(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && code !== "UND_ERR") return code;
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.length) return codeOf(errors[0]);
  }
  return undefined;
}

function messageOf(err: unknown): string {
  let e: unknown = err;
  while ((e as { cause?: unknown })?.cause instanceof Error) e = (e as { cause: unknown }).cause;
  return e instanceof Error ? e.message : String(e);
}

/** A fetch failure as a finding. */
export function classify(err: unknown, url: string, timeoutMs: number): ProbeError {
  const host = safeHost(url);
  if ((err as { name?: unknown })?.name === "TimeoutError") return new ProbeError("timeout", url, `${host} did not answer within ${Math.round(timeoutMs / 1000)} s`);
  const code = codeOf(err);
  const msg = messageOf(err);
  if (msg === "bad port") return new ProbeError("blocked_port", url, `port ${new URL(url).port} of ${host} is one that browsers and fetch refuse to use`, code);
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME") return new ProbeError("dns", url, `the name ${new URL(url).hostname} does not resolve (${code})`, code);
  if (code === "ECONNREFUSED") return new ProbeError("refused", url, `${host} refused the connection (nothing listens there)`, code);
  if (code === "UND_ERR_CONNECT_TIMEOUT" || code === "ETIMEDOUT" || code === "UND_ERR_HEADERS_TIMEOUT") return new ProbeError("timeout", url, `${host} did not answer in time (${code})`, code);
  if (code === "ERR_SSL_WRONG_VERSION_NUMBER" || code === "ERR_SSL_PACKET_LENGTH_TOO_LONG") {
    return new ProbeError("tls", url, `${host} does not speak TLS on this port (https:// to a plain http port?)`, code);
  }
  if (code && TLS_CODES.test(code)) return new ProbeError("tls", url, `TLS error with ${host}: ${code} (${msg})`, code);
  if (code === "ECONNRESET" || code === "UND_ERR_SOCKET" || code === "EPIPE" || code === "UND_ERR_CLOSED") {
    return new ProbeError("reset", url, `${host} closed the connection without an answer (${code})`, code);
  }
  return new ProbeError("network", url, `cannot reach ${host}: ${msg}${code ? ` (${code})` : ""}`, code);
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** An answer that is a web page (a proxy's or a web server's), not an API's. */
export function isHtml(a: Answer): boolean {
  const type = (a.headers.get("content-type") ?? "").toLowerCase();
  return type.startsWith("text/html") || /^\s*<(!doctype|html|head|body)/i.test(a.text);
}

/** A Matrix JSON answer (an errcode or any JSON object), as opposed to a proxy's page or an empty body. */
export function isMatrixJson(a: Answer): boolean {
  return a.json !== null && (a.headers.get("content-type") ?? "").toLowerCase().includes("json");
}

export function errcodeOf(a: Answer): string | undefined {
  const e = a.json?.["errcode"];
  return typeof e === "string" ? e : undefined;
}

/** "404 M_NOT_FOUND", "404 (an HTML page)", "502 (empty)": how an answer is named in a summary. */
export function describe(a: Answer): string {
  const code = errcodeOf(a);
  if (code) return `${a.status} ${code}`;
  if (isHtml(a)) return `${a.status} (an HTML page, not the homeserver's JSON)`;
  if (a.text.length === 0) return `${a.status} (empty body)`;
  return `${a.status} (${(a.headers.get("content-type") ?? "no Content-Type").split(";")[0]})`;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export class Prober {
  readonly answers: Answer[] = [];
  readonly failures: ProbeError[] = [];
  readonly timeoutMs: number;
  private readonly fetchImpl: FetchLike;
  private readonly signal: AbortSignal | undefined;
  readonly now: () => number;

  constructor(opts: ProbeOptions = {}) {
    this.fetchImpl = opts.fetch ?? ((input, init) => fetch(input, init));
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.signal = opts.signal;
    this.now = opts.now ?? Date.now;
  }

  /** A fetch for code that takes one (the server-name discovery of main/login): same timeouts, recorded. */
  readonly fetch: FetchLike = async (input, init) => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    // oauth4webapi sends its forms as URLSearchParams: every body is read as text, none dropped.
    const body = init.body === undefined || init.body === null ? undefined : typeof init.body === "string" ? init.body : await new Response(init.body).text();
    const a = await this.request(String(input), { method: init.method ?? "GET", headers, follow: 5, ...(body !== undefined ? { body } : {}) });
    return new Response([101, 204, 205, 304].includes(a.status) ? null : a.text, { status: a.status, headers: a.headers });
  };

  /** The same, typed as the global fetch (for code that takes one). */
  readonly globalFetch: typeof fetch = (input, init) => this.fetch(input instanceof Request ? input.url : String(input), init ?? {});

  /** One request (and the redirects `follow` allows). Throws ProbeError; never hangs past the timeout. */
  async request(url: string, spec: RequestSpec = {}): Promise<Answer> {
    let method = (spec.method ?? "GET").toUpperCase();
    let body = spec.body;
    const redirects: string[] = [];
    const seen = new Set<string>([url]);
    let current = url;
    for (;;) {
      const a = await this.once(current, method, spec.headers ?? {}, body, spec.extraMs ?? 0, redirects);
      const location = a.headers.get("location");
      if (!REDIRECTS.has(a.status) || location === null || redirects.length >= (spec.follow ?? 0)) {
        if (REDIRECTS.has(a.status) && location !== null && (spec.follow ?? 0) > 0) {
          const next = new URL(location, current).href;
          const error = seen.has(next)
            ? new ProbeError("redirect_loop", url, `redirect loop: ${[...redirects, current, next].map(pathOf).join(" → ")}`)
            : new ProbeError("too_many_redirects", url, `more than ${spec.follow} redirects from ${pathOf(url)}`);
          this.failures.push(error);
          throw error;
        }
        return a;
      }
      const next = new URL(location, current).href;
      if (seen.has(next)) {
        const error = new ProbeError("redirect_loop", url, `redirect loop: ${[...redirects, current, next].map(pathOf).join(" → ")}`);
        this.failures.push(error);
        throw error;
      }
      seen.add(next);
      redirects.push(current);
      // As fetch does: 303, and 301/302 after a POST, continue as GET without a body.
      if (a.status === 303 || ((a.status === 301 || a.status === 302) && method === "POST")) {
        method = "GET";
        body = undefined;
      }
      current = next;
    }
  }

  private async once(url: string, method: string, headers: Record<string, string>, body: string | undefined, extraMs: number, redirects: readonly string[]): Promise<Answer> {
    if (this.signal?.aborted) throw new ProbeError("cancelled", url, "cancelled");
    const timeoutMs = this.timeoutMs + extraMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = this.signal ? AbortSignal.any([this.signal, timeout]) : timeout;
    const sentAt = this.now();
    const started = performance.now();
    try {
      const response = await this.fetchImpl(url, {
        method,
        headers: { "accept-encoding": CLIENT_ACCEPT_ENCODING, ...headers },
        ...(body !== undefined ? { body } : {}),
        redirect: "manual",
        credentials: "omit",
        signal,
      });
      const receivedAt = this.now();
      const text = await response.text();
      const a: Answer = {
        url, method, status: response.status, headers: response.headers, text, json: parseJsonObject(text),
        elapsedMs: performance.now() - started, sentAt, receivedAt, redirects: [...redirects],
      };
      this.answers.push(a);
      return a;
    } catch (err) {
      if (this.signal?.aborted) throw new ProbeError("cancelled", url, "cancelled");
      const error = classify(err, url, timeoutMs);
      this.failures.push(error);
      throw error;
    }
  }
}

function pathOf(url: string): string {
  try {
    const u = new URL(url);
    return u.pathname + u.search;
  } catch {
    return url;
  }
}
