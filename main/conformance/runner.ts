// Runs the rendezvous conformance cases against a server, from the outside, as any client would.
// The one interpreter of rendezvous-cases.json: `qr-login conformance` runs it against whatever
// server it is pointed at; the project's own suite (test/conformance/) runs every case through it
// against our server, and gives it the control of the server's configuration and clock that the
// command line does not have (ServerControl).
import { setTimeout as sleep } from "node:timers/promises";
import type { ApiVersion, RendezvousCase } from "./cases.js";
import { apiOf, CASES, CONCURRENT_WRITE_ERRCODE, expand, needsSession, PREFIX_2024, PREFIX_UNSTABLE, runsPerPrefix, SYNAPSE_SESSION_PATH } from "./cases.js";
import { body, CaseFailure, fail, isString, matches, show, status } from "./check.js";
import type { HttpClient, Reply } from "./http.js";
import { createHttpClient, NetworkError } from "./http.js";
import type { CaseContext, CaseSpec, ServerSetup, SpecTable } from "./spec.js";
import { SPECS_2024 } from "./specs-2024.js";
import { SPECS_2025 } from "./specs-2025.js";
import { SPECS_MSC } from "./specs-msc.js";

export const SPECS: SpecTable = { ...SPECS_2025, ...SPECS_MSC, ...SPECS_2024 };

/** One rendezvous API as found on a server. */
export interface Endpoint {
  readonly api: ApiVersion;
  /** The path the API is known by: one of the two 2025 prefixes, or the 2024 one. */
  readonly prefix: string;
  /** Absolute URL where it is served: base + prefix, or where the homeserver's 2024 POST redirects. */
  readonly url: string;
}

export interface Target {
  /** The server's base URL, without a trailing slash: `/_matrix/…` paths hang below it. */
  readonly base: string;
  /** The APIs to run the cases on, in report order. */
  readonly endpoints: readonly Endpoint[];
}

/**
 * Servers of the same implementation in the other set-ups some cases need (base URLs), and the
 * servers' clock. Only a test harness has these; without them those cases are skipped.
 */
export interface ServerControl {
  readonly off?: string;
  readonly authenticated?: { readonly base: string; readonly token: string };
  readonly rateLimited?: { readonly base: string; readonly createsPerWindow: number };
  readonly capped?: { readonly base: string; readonly sessionsPerClient: number };
  /** Moves the clock of every server forward (instead of waiting for sessions to expire). */
  readonly advanceClock?: (ms: number) => void;
}

export type CaseStatus = "pass" | "fail" | "skip";

export interface CaseResult {
  readonly id: string;
  readonly api: ApiVersion;
  readonly prefix: string;
  readonly rule: string;
  readonly status: CaseStatus;
  /** Why it failed or was skipped, or what was seen where the rules allow several answers. */
  readonly message: string;
  /** The server did not answer (refused, timed out…). */
  readonly network?: boolean;
  /** The answer to the case's own request and the placeholders, for callers that check more. */
  readonly reply?: Reply;
  readonly vars?: Readonly<Record<string, string>>;
}

export type ProgressEvent =
  | { readonly kind: "case"; readonly result: CaseResult; readonly done: number; readonly total: number }
  | { readonly kind: "wait"; readonly ms: number; readonly why: string };

export interface RunOptions {
  /** Run the cases that wait for a session to expire (minutes each, run side by side). */
  readonly slow?: boolean;
  readonly control?: ServerControl;
  /** Per request (default 10 s). */
  readonly timeoutMs?: number;
  /** Wait as told by a 429's Retry-After (up to a minute) and repeat, rather than fail. */
  readonly waitOutRateLimits?: boolean;
  readonly onProgress?: (event: ProgressEvent) => void;
  /** A client to share (closed by its owner); otherwise one is made for the run. */
  readonly http?: HttpClient;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
/** A token for `{token}` where the server under test gave none: the endpoints that carry it need none. */
const PLACEHOLDER_TOKEN = "syt_qr_login_conformance_placeholder";
/** After this many cases in a row without an answer, the server is taken as gone. */
const GIVE_UP_AFTER = 3;

const SETUP_WORDS: Record<ServerSetup, string> = {
  off: "a server with the API turned off",
  authenticated: "a server in authenticated mode and a valid access token",
  "rate-limited": "a server with a known, low create rate limit",
  capped: "a server with a known, low cap on live sessions",
};

/** Which cases run on which endpoint: 2025 cases on each 2025 prefix, those about other paths once. */
export function planCases(target: Target): { c: RendezvousCase; endpoint: Endpoint }[] {
  const first2025 = target.endpoints.find((e) => e.api === "2025");
  const plan: { c: RendezvousCase; endpoint: Endpoint }[] = [];
  for (const endpoint of target.endpoints) {
    for (const c of CASES) {
      if (apiOf(c) !== endpoint.api) continue;
      if (endpoint.api === "2025" && !runsPerPrefix(c) && endpoint !== first2025) continue;
      plan.push({ c, endpoint });
    }
  }
  return plan;
}

interface Server { base: string; token?: string; sessionCap: number; createLimit: number }

function serverFor(needs: ServerSetup | undefined, target: Target, control: ServerControl | undefined): Server | string {
  const none = { sessionCap: 0, createLimit: 0 };
  if (!needs) return { base: target.base, ...none };
  const why = `needs ${SETUP_WORDS[needs]} (qr-login's own test suite runs it)`;
  switch (needs) {
    case "off": return control?.off ? { base: control.off, ...none } : why;
    case "authenticated": return control?.authenticated ? { ...none, ...control.authenticated } : why;
    case "rate-limited": return control?.rateLimited ? { ...none, base: control.rateLimited.base, createLimit: control.rateLimited.createsPerWindow } : why;
    case "capped": return control?.capped ? { ...none, base: control.capped.base, sessionCap: control.capped.sessionsPerClient } : why;
  }
}

function retryAfterMs(r: Reply): number {
  const ms = r.json?.retry_after_ms;
  if (typeof ms === "number" && ms > 0) return ms;
  const seconds = Number(r.headers.get("retry-after"));
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 1000;
}

/** What every error answer is: a Matrix error in JSON, readable by a web client (CORS). */
function expectMatrixError(r: Reply): void {
  matches(r.headers.get("content-type"), /^application\/json/, `header Content-Type of the ${r.status}`);
  isString(body(r).errcode, `body.errcode of the ${r.status}`);
  isString(body(r).error, `body.error of the ${r.status}`);
  if (r.headers.get("access-control-allow-origin") !== "*") fail(`header Access-Control-Allow-Origin of the ${r.status}: expected "*", got ${show(r.headers.get("access-control-allow-origin") ?? undefined)}`);
}

/** Runs one case on one endpoint. Never throws for what the server does: that is the result. */
export async function runCase(c: RendezvousCase, endpoint: Endpoint, target: Target, options: RunOptions & { http: HttpClient }): Promise<CaseResult> {
  const spec: CaseSpec | undefined = SPECS[c.name];
  if (!spec) throw new Error(`conformance case ${c.name} has no spec`);
  const result = (st: CaseStatus, message: string, more: Partial<CaseResult> = {}): CaseResult =>
    ({ id: c.name, api: endpoint.api, prefix: endpoint.prefix, rule: spec.rule, status: st, message, ...more });
  const { control, http } = options;
  const server = serverFor(spec.needs, target, control);
  if (typeof server === "string") return result("skip", server);
  if (spec.slow && !options.slow && !control?.advanceClock) return result("skip", "waits for a session to expire (minutes): run with --slow");

  const { base } = server;
  const prefix = spec.needs ? base + endpoint.prefix : endpoint.url;
  const vars: Record<string, string> = { token: server.token ?? PLACEHOLDER_TOKEN, etag: "\"etag\"", etag2: "\"etag2\"", id: "0123456789abcdefghijkl" };
  const created: string[] = [];

  const call = async (method: string, url: string, reqBody?: unknown, headers: Record<string, string> = {}): Promise<Reply> => {
    const abs = /^https?:\/\//.test(url) ? url : base + url;
    const h = { ...headers };
    let payload: string | undefined;
    if (reqBody !== null && reqBody !== undefined) {
      if (typeof reqBody === "string") payload = reqBody;
      else { payload = JSON.stringify(reqBody); h["Content-Type"] ??= "application/json"; }
    }
    let reply = await http.request(method, abs, h, payload);
    for (let tries = 0; options.waitOutRateLimits && reply.status === 429 && tries < 3; tries++) {
      const ms = retryAfterMs(reply);
      if (ms > 65_000) break;
      options.onProgress?.({ kind: "wait", ms, why: `the server rate-limits this client (${method} ${new URL(abs).pathname})` });
      await sleep(ms);
      reply = await http.request(method, abs, h, payload);
    }
    // Every session a case makes is deleted after it, so a run leaves nothing behind.
    if (method === "POST" && reply.status === 200 && abs === prefix && typeof reply.json?.id === "string") created.push(`${prefix}/${reply.json.id}`);
    if (method === "POST" && reply.status === 201 && typeof reply.json?.url === "string") created.push(reply.json.url);
    return reply;
  };

  const ctx: CaseContext = {
    base, prefix, vars,
    concurrentErrcode: CONCURRENT_WRITE_ERRCODE[endpoint.prefix] ?? "M_CONCURRENT_WRITE",
    createdExpiresInMs: undefined,
    sessionCap: server.sessionCap,
    createLimit: server.createLimit,
    elapse: async (ms) => {
      if (control?.advanceClock) { control.advanceClock(ms); return; }
      options.onProgress?.({ kind: "wait", ms, why: `${c.name} lets the session age` });
      await sleep(ms);
    },
    call,
    create: async (data = "foo=bar", headers = {}) => {
      const r = await call("POST", prefix, { data }, headers);
      status(r, 200, "setup POST");
      isString(body(r).id, "setup POST: body.id");
      isString(body(r).sequence_token, "setup POST: body.sequence_token");
      vars.id = body(r).id as string;
      vars.seq0 = body(r).sequence_token as string;
      ctx.createdExpiresInMs = body(r).expires_in_ms as number;
    },
    put: async (token, data, capture) => {
      const r = await call("PUT", `${prefix}/${vars.id}`, { sequence_token: token, data });
      if (capture && r.status === 200) vars[capture] = body(r).sequence_token as string;
      return r;
    },
    create2024: async (data = "foo=bar") => {
      const r = await call("POST", prefix, data, { "Content-Type": "text/plain" });
      status(r, 201, "setup POST");
      isString(body(r).url, "setup POST: body.url");
      let url: URL;
      try { url = new URL(body(r).url as string); } catch { fail(`setup POST: body.url is not an absolute URL: ${show(body(r).url)}`); }
      vars.session = url.href;
      vars.id = url.pathname.split("/").at(-1)!;
      vars.etag = r.headers.get("etag") ?? "";
      ctx.createdExpiresInMs = Date.parse(r.headers.get("expires") ?? "") - Date.parse(r.headers.get("date") ?? "");
      if (!(ctx.createdExpiresInMs > 0)) fail(`setup POST: no lifetime in Expires ${show(r.headers.get("expires") ?? undefined)} − Date ${show(r.headers.get("date") ?? undefined)}`);
    },
    put2024: async (etag, data, capture) => {
      const r = await call("PUT", vars.session!, data, { "Content-Type": "text/plain", "If-Match": etag });
      if (capture && r.status === 202) vars[capture] = r.headers.get("etag") ?? "";
      return r;
    },
  };

  let reply: Reply | undefined;
  let network = false;
  try {
    if (needsSession(c)) {
      if (endpoint.api === "2024") await ctx.create2024(spec.data);
      else await ctx.create(spec.data, spec.needs === "authenticated" ? { Authorization: `Bearer ${vars.token}` } : {});
    }
    await spec.setup?.(ctx);

    const url = spec.url ? spec.url(ctx)
      : c.path === SYNAPSE_SESSION_PATH ? vars.session!
        : c.path === PREFIX_2024 ? prefix
          : c.path.startsWith(PREFIX_UNSTABLE) ? prefix + c.path.slice(PREFIX_UNSTABLE.length)
            : c.path;
    reply = await call(c.method, expand(url, vars) as string, expand(c.body, vars), expand(c.headers, vars) as Record<string, string>);

    const expected = spec.expect ?? { status: c.expect_status, errcode: c.expect_errcode };
    status(reply, expected.status, "status");
    if (expected.errcode !== null) {
      const allowed = [expected.errcode].flat().map((e) => (e === "IO_ELEMENT_MSC4388_CONCURRENT_WRITE" ? ctx.concurrentErrcode : e));
      if (!allowed.includes(body(reply).errcode as string)) fail(`body.errcode: expected ${allowed.join(" or ")}, got ${show(body(reply).errcode)}`);
    }
    if (reply.status >= 400 && c.method !== "HEAD") expectMatrixError(reply);
    const note = await spec.check?.(reply, ctx);
    return result("pass", typeof note === "string" ? note : "", { reply, vars });
  } catch (err) {
    if (err instanceof CaseFailure) return result("fail", err.message, { vars, ...(reply ? { reply } : {}) });
    if (err instanceof NetworkError) { network = true; return result("fail", `no answer: ${err.message}`, { network: true, vars }); }
    return result("fail", `the case could not run: ${err instanceof Error ? err.message : String(err)}`, { vars });
  } finally {
    if (!network) for (const url of created) await http.request("DELETE", url).catch(() => undefined);
  }
}

/**
 * Runs every case on every endpoint of the target and returns the results in plan order. Cases that
 * wait for an expiry run side by side at the end, so --slow costs one lifetime, not one per case.
 */
export async function runConformance(target: Target, options: RunOptions = {}): Promise<CaseResult[]> {
  const http = options.http ?? createHttpClient({ timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS });
  const opts = { ...options, http };
  const plan = planCases(target);
  const results = new Map<number, CaseResult>();
  let done = 0;
  const record = (i: number, r: CaseResult) => {
    results.set(i, r);
    options.onProgress?.({ kind: "case", result: r, done: ++done, total: plan.length });
  };
  try {
    const waiting: number[] = [];
    let silentInARow = 0;
    let lastSilence = "";
    for (const [i, { c, endpoint }] of plan.entries()) {
      if (silentInARow >= GIVE_UP_AFTER) {
        record(i, { id: c.name, api: endpoint.api, prefix: endpoint.prefix, rule: SPECS[c.name]?.rule ?? "", status: "fail", message: `not run: the server stopped answering (${lastSilence})`, network: true });
        continue;
      }
      if (SPECS[c.name]?.slow && options.slow && !options.control?.advanceClock) { waiting.push(i); continue; }
      const r = await runCase(c, endpoint, target, opts);
      silentInARow = r.network ? silentInARow + 1 : 0;
      if (r.network) lastSilence = r.message;
      record(i, r);
    }
    await Promise.all(waiting.map(async (i) => record(i, await runCase(plan[i]!.c, plan[i]!.endpoint, target, opts))));
  } finally {
    if (!options.http) http.close();
  }
  return plan.map((_p, i) => results.get(i)!);
}
