// How a case of rendezvous-cases.json is run: the rule it checks, the server set-up it needs, the
// steps before its request, and the checks of the answer beyond status and errcode. The setup steps
// the file writes in prose (`notes`) are encoded here, once, for the CLI and the project's own suite.
import type { Reply } from "./http.js";
import { body, equal, isString, positiveInteger, status } from "./check.js";

/**
 * Server set-ups other than "open, with no limits in the way" that some cases need. The command line
 * runs against one server it cannot reconfigure, so it skips these; the project's own suite starts a
 * server for each (ServerControl in runner.ts).
 */
export type ServerSetup =
  /** both APIs turned off (`mode: off`) */
  | "off"
  /** creating a session needs an access token; `{token}` is one the server accepts */
  | "authenticated"
  /** a known, low limit on creates per client per window */
  | "rate-limited"
  /** a known, low cap on live sessions per client */
  | "capped";

export interface CaseContext {
  /** The server's base URL: its `/_matrix/…` paths hang below it. */
  readonly base: string;
  /** Absolute URL of the endpoint the case runs on: a 2025 prefix, or the 2024 create URL. */
  readonly prefix: string;
  /** The 409 errcode of this 2025 prefix. */
  readonly concurrentErrcode: string;
  /** Placeholders (`id`, `seq0`, `etag`, `session`, …) filled by the steps. */
  readonly vars: Record<string, string>;
  /** `expires_in_ms` of the setup POST (2025), or Expires − Date of the setup POST in ms (2024). */
  createdExpiresInMs: number | undefined;
  /** The cap on live sessions per client of the "capped" set-up. */
  readonly sessionCap: number;
  /** The creates per window of the "rate-limited" set-up. */
  readonly createLimit: number;
  /** Lets `ms` of the server's time pass: advances a controlled clock, or waits. */
  elapse(ms: number): Promise<void>;
  /** A request; `url` is absolute or a path below `base`; a non-string body is sent as JSON. */
  call(method: string, url: string, reqBody?: unknown, headers?: Record<string, string>): Promise<Reply>;
  /** 2025: POST `{data}`; sets vars.id and vars.seq0 and createdExpiresInMs. */
  create(data?: string, headers?: Record<string, string>): Promise<void>;
  /** 2025: PUT `{sequence_token, data}` on the session; a 200's token goes into vars[capture]. */
  put(token: string, data: string, capture?: string): Promise<Reply>;
  /** 2024: POST text/plain; sets vars.session (the session URL), vars.id and vars.etag. */
  create2024(data?: string): Promise<void>;
  /** 2024: PUT text/plain with If-Match; a 202's ETag goes into vars[capture]. */
  put2024(etag: string, data: string, capture?: string): Promise<Reply>;
}

export interface CaseSpec {
  /** The rule the case checks, in one line, with where it comes from when not the MSC itself. */
  readonly rule: string;
  /** A server set-up other than open (see ServerSetup). */
  readonly needs?: ServerSetup;
  /** The data of the session created before the request (default "foo=bar"). */
  readonly data?: string;
  /** Waits for a session to expire: minutes against a real server (the command runs it with --slow). */
  readonly slow?: boolean;
  readonly setup?: (ctx: CaseContext) => Promise<void>;
  /** Replaces the file's expectation, with the reason (the MSC over Synapse, or either answer is right). */
  readonly expect?: { readonly status: number | readonly number[]; readonly errcode: string | readonly string[] | null; readonly why: string };
  /** Where the request goes when not the case's path on the endpoint (absolute or below `base`). */
  readonly url?: (ctx: CaseContext) => string;
  /** Further checks of the answer; a returned string is a note for the report (what was seen). */
  readonly check?: (r: Reply, ctx: CaseContext) => void | string | Promise<void | string>;
}

export type SpecTable = Readonly<Record<string, CaseSpec>>;

/** The session URL of a 2025 case. */
export const sessionOf = (ctx: CaseContext) => `${ctx.prefix}/${ctx.vars.id}`;

/** PUT foo=baz with the POST's token: the write most cases build on; its token is {seq1}. */
export async function putFooBaz(ctx: CaseContext): Promise<void> {
  status(await ctx.put(ctx.vars.seq0!, "foo=baz", "seq1"), 200, "setup PUT with the current token");
}

export async function deleteSession(ctx: CaseContext): Promise<void> {
  status(await ctx.call("DELETE", sessionOf(ctx)), 200, "setup DELETE");
}

export async function deleteSession2024(ctx: CaseContext): Promise<void> {
  status(await ctx.call("DELETE", ctx.vars.session!), 204, "setup DELETE");
}

export async function putFooBaz2024(ctx: CaseContext): Promise<void> {
  status(await ctx.put2024(ctx.vars.etag!, "foo=baz", "etag2"), 202, "setup PUT with the current ETag");
}

/** The GET body of a session: `data` and `sequence_token` as expected, and a lifetime left. */
export function expectPayload(r: Reply, data: string, token: string | undefined): void {
  equal(body(r).data, data, "body.data");
  if (token !== undefined) equal(body(r).sequence_token, token, "body.sequence_token");
}

/** The answer names the token of the write {seq1}, and so does a GET of the session afterwards. */
export async function expectSeq1NowAndAfter(r: Reply, ctx: CaseContext, after: string): Promise<void> {
  equal(body(r).sequence_token, ctx.vars.seq1, "body.sequence_token");
  equal(body(await ctx.call("GET", sessionOf(ctx))).sequence_token, ctx.vars.seq1, `${after}: body.sequence_token`);
}

/** Discovery for a requester who may not create: 200 {create_available: false}, or 403 M_FORBIDDEN. */
export function expectNoCreate(r: Reply): void {
  if (r.status === 200) equal(body(r).create_available, false, "body.create_available");
  else equal(body(r).errcode, "M_FORBIDDEN", "body.errcode");
}

export function expectCreated(r: Reply): void {
  isString(body(r).id, "body.id");
  isString(body(r).sequence_token, "body.sequence_token");
  positiveInteger(body(r).expires_in_ms, "body.expires_in_ms");
}
