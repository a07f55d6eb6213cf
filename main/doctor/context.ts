// What every group of checks shares: the prober, the homeserver's base URL, how a result is reported
// (and streamed as progress), and the registry of rendezvous sessions created, each deleted before the
// run ends.
import type { Answer, Prober } from "./probe.js";
import type { CheckId, CheckResult, CheckStatus, DoctorEvent } from "./types.js";

/** The origin a browser client runs on, for the browser's view of CORS (Element Web's). */
export const BROWSER_ORIGIN = "https://app.element.io";

export class Sessions {
  private readonly live = new Map<string, string>();

  /** A session exists at `url` (DELETE there removes it). */
  add(url: string): void {
    this.live.set(url, url);
  }

  deleted(url: string): void {
    this.live.delete(url);
  }

  get count(): number {
    return this.live.size;
  }

  /** DELETE every session still registered; best effort (a session nobody deletes expires on its own). */
  async deleteAll(prober: Prober): Promise<void> {
    await Promise.all([...this.live.keys()].map(async (url) => {
      try {
        const a = await prober.request(url, { method: "DELETE", headers: { accept: "application/json" } });
        if (a.status < 500) this.live.delete(url);
      } catch {
        // Unreachable now: it expires on the server.
      }
    }));
  }
}

export interface ContextOptions {
  readonly prober: Prober;
  readonly baseUrl: string;
  readonly accessToken?: string | undefined;
  /** The longest a held GET is waited for (the long-poll check). */
  readonly maxHoldMs: number;
  readonly onEvent: (e: DoctorEvent) => void;
}

export class DoctorContext {
  readonly prober: Prober;
  /** With a trailing slash; empty until a server name is resolved. */
  baseUrl: string;
  readonly accessToken: string | undefined;
  readonly maxHoldMs: number;
  readonly sessions = new Sessions();
  readonly results = new Map<CheckId, CheckResult>();
  private readonly onEvent: (e: DoctorEvent) => void;

  constructor(o: ContextOptions) {
    this.prober = o.prober;
    this.baseUrl = o.baseUrl;
    this.accessToken = o.accessToken;
    this.maxHoldMs = o.maxHoldMs;
    this.onEvent = o.onEvent;
  }

  /** The homeserver URL of an absolute path such as `/_matrix/client/versions`. */
  url(path: string): string {
    return new URL(path.replace(/^\/+/, ""), this.baseUrl).href;
  }

  running(id: CheckId, detail: string): void {
    this.onEvent({ type: "running", id, detail });
  }

  /** Record (once) and stream one result. */
  report(id: CheckId, status: CheckStatus, summary: string, fix: string | null = null): CheckResult {
    const existing = this.results.get(id);
    if (existing) return existing;
    const result: CheckResult = { id, status, summary, fix: status === "pass" || status === "skip" ? null : fix };
    this.results.set(id, result);
    this.onEvent({ type: "result", check: result });
    return result;
  }

  /** Skip checks that could not run because of a finding reported elsewhere. */
  notChecked(ids: readonly CheckId[], why: string): void {
    for (const id of ids) this.report(id, "skip", `not checked: ${why}`);
  }

  has(id: CheckId): boolean {
    return this.results.has(id);
  }

  statusOf(id: CheckId): CheckStatus | undefined {
    return this.results.get(id)?.status;
  }

  /** The Authorization header when the run was given an access token (creating sessions in authenticated mode). */
  authHeaders(): Record<string, string> {
    return this.accessToken ? { authorization: `Bearer ${this.accessToken}` } : {};
  }
}

/** The first of a list of answers that fails `ok`, for "the 3rd of 4 GETs answered 404". */
export function firstBad<T extends Answer>(answers: readonly T[], ok: (a: T) => boolean): { index: number; answer: T } | undefined {
  const index = answers.findIndex((a) => !ok(a));
  return index === -1 ? undefined : { index, answer: answers[index]! };
}

export function ordinal(n: number): string {
  const s = ["th", "st", "nd", "rd"];
  const v = n % 100;
  return `${n}${s[(v - 20) % 10] ?? s[v] ?? s[0]}`;
}
