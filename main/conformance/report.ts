// The report of a run: what `qr-login conformance --json` prints, one JSON object (the shape is in
// docs/architecture.md "Contracts"), and the counts the text output ends with.
import type { ApiVersion } from "./cases.js";
import type { ApiChoice } from "./discover.js";
import type { CaseResult, CaseStatus, Endpoint } from "./runner.js";

/** A case as the report shows it: its result without what only in-process callers use. */
export type ReportCase = Pick<CaseResult, "id" | "api" | "prefix" | "rule" | "status" | "message">;

export interface ConformanceReport {
  /** The URL as given. */
  readonly target: string;
  /** What --api asked for. */
  readonly api: ApiChoice;
  readonly slow: boolean;
  /** True exactly when the run could start and no case failed. */
  readonly ok: boolean;
  /** Why the run could not start (unreachable, no API): then there are no cases. */
  readonly error: string | null;
  /** The APIs the cases ran on. */
  readonly apis: readonly { readonly api: ApiVersion; readonly prefix: string; readonly url: string }[];
  /** What was seen where no API was run. */
  readonly notes: readonly string[];
  readonly counts: { readonly total: number; readonly pass: number; readonly fail: number; readonly skip: number };
  readonly cases: readonly ReportCase[];
}

export function countResults(results: readonly { status: CaseStatus }[]): ConformanceReport["counts"] {
  const n = (st: CaseStatus) => results.filter((r) => r.status === st).length;
  return { total: results.length, pass: n("pass"), fail: n("fail"), skip: n("skip") };
}

export function buildReport(input: {
  target: string; api: ApiChoice; slow: boolean; error?: string;
  endpoints?: readonly Endpoint[]; notes?: readonly string[]; results?: readonly CaseResult[];
}): ConformanceReport {
  const results = input.results ?? [];
  const counts = countResults(results);
  return {
    target: input.target,
    api: input.api,
    slow: input.slow,
    ok: !input.error && counts.fail === 0,
    error: input.error ?? null,
    apis: (input.endpoints ?? []).map(({ api, prefix, url }) => ({ api, prefix, url })),
    notes: input.notes ?? [],
    counts,
    cases: results.map(({ id, api, prefix, rule, status, message }) => ({ id, api, prefix, rule, status, message })),
  };
}
