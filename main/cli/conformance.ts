// `qr-login conformance <rendezvous base URL> [--api 2024|2025] [--json] [--slow]`: runs the black-box
// rendezvous conformance cases (main/conformance/) against any running server, so that other
// implementations can test theirs. Contract (docs/architecture.md "Contracts"): one line per case with
// the rule it checks, a summary; --json prints one JSON object instead; exit 0 when no case fails,
// 1 when one fails or the server cannot be tested, 2 on bad arguments.
import type { ApiChoice, CaseResult, ConformanceReport, Discovery, ProgressEvent } from "../conformance/index.js";
import { buildReport, createHttpClient, DEFAULT_TIMEOUT_MS, discover, parseTarget, PREFIX_2024, PREFIX_UNSTABLE, PREFIX_V1, runConformance, TargetError, TargetInputError } from "../conformance/index.js";
import { parseCommandArgs, UsageError } from "./args.js";

export const summary = "conformance <base URL> [--api 2024|2025] [--json] [--slow]: test a rendezvous server against the MSC4388/MSC4108 cases";

const HELP = `usage: qr-login conformance <rendezvous base URL> [--api 2024|2025] [--json] [--slow]

Runs the black-box rendezvous conformance cases (from Synapse's MSC4388 and MSC4108 tests, the MSC4388
text and matrix-js-sdk's transports) against a running server: one line per case with the rule it
checks, then a summary.

The base URL is where the server's /_matrix/client/ paths start: a homeserver's base URL
(https://matrix.example.org) or a standalone rendezvous server's (http://127.0.0.1:8090). Under it:
  2025 API (MSC4388)  ${PREFIX_V1} and ${PREFIX_UNSTABLE},
                      each tested where its discovery answers {"create_available": true}
  2024 API (MSC4108)  ${PREFIX_2024},
                      tested where a POST creates a session; a 307/308 (Synapse's
                      msc4108_delegation_endpoint) is followed, as Element's clients do
A URL that ends in one of these prefixes tests that prefix alone.

options:
  --api 2024|2025  only that API (default: every API the server offers)
  --json           print one JSON object on stdout instead of the lines (progress goes to stderr)
  --slow           also run the cases that wait for a session to expire (a few minutes)

Cases that need a server in another configuration (API off, authenticated mode, known limits) are
skipped: they need control of the server and run in qr-login's own test suite. Each case deletes the
sessions it created. Every request times out after ${DEFAULT_TIMEOUT_MS / 1000} s; a server that rate-limits creates is
waited for as its Retry-After says.
exit status: 0 no case failed, 1 a case failed or the server could not be tested, 2 bad arguments`;

const LABELS: Record<string, string> = { [PREFIX_V1]: "v1", [PREFIX_UNSTABLE]: "unstable", [PREFIX_2024]: "2024" };
const label = (prefix: string) => LABELS[prefix] ?? prefix;

function parseApi(value: string | undefined): ApiChoice {
  if (value === undefined) return "all";
  if (value === "2024" || value === "2025") return value;
  throw new UsageError(`--api must be 2024 or 2025 (got ${value})`);
}

function caseLine(r: CaseResult): string {
  const head = `${r.status === "fail" ? "FAIL" : r.status} ${r.id} [${label(r.prefix)}]`;
  if (r.status === "skip") return `${head}: ${r.message}`;
  const line = `${head}: ${r.rule}${r.status === "pass" && r.message ? ` (${r.message})` : ""}`;
  return r.status === "fail" ? `${line}\n      ${r.message}` : line;
}

function summaryLine(report: ConformanceReport): string {
  const { total, pass, fail, skip } = report.counts;
  return `${total} cases: ${pass} passed, ${fail} failed, ${skip} skipped${fail === 0 ? "" : ` (failed: ${[...new Set(report.cases.filter((c) => c.status === "fail").map((c) => c.id))].slice(0, 10).join(", ")}${fail > 10 ? ", …" : ""})`}`;
}

function foundLines(found: Discovery): string[] {
  return [
    `testing ${found.base}`,
    ...found.endpoints.map((e) => `  ${e.api} API at ${e.url}`),
    ...found.notes.map((n) => `  (${n})`),
  ];
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { api: { type: "string" }, json: { type: "boolean" }, slow: { type: "boolean" }, help: { type: "boolean" } });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? "give the rendezvous base URL, e.g. https://matrix.example.org" : `one base URL only (got ${positionals.length} arguments)`);
  const input = positionals[0]!;
  const api = parseApi(values.api);
  const json = values.json === true;
  const slow = values.slow === true;
  let target;
  try {
    target = parseTarget(input, api);
  } catch (err) {
    if (err instanceof TargetInputError) throw new UsageError(err.message);
    throw err;
  }

  // Lines go to stdout as each case ends; with --json, stdout is the report alone and progress is on stderr.
  const progress = (text: string) => (json ? process.stderr : process.stdout).write(`${text}\n`);
  const http = createHttpClient({ timeoutMs: DEFAULT_TIMEOUT_MS });
  try {
    let found: Discovery;
    try {
      found = await discover(http, target);
    } catch (err) {
      if (!(err instanceof TargetError)) throw err;
      if (json) process.stdout.write(`${JSON.stringify(buildReport({ target: input, api, slow, error: err.message }))}\n`);
      else console.error(`qr-login conformance: ${err.message}`);
      return 1;
    }
    for (const line of foundLines(found)) progress(line);
    const onProgress = (e: ProgressEvent) => {
      if (e.kind === "wait") process.stderr.write(`waiting ${Math.ceil(e.ms / 1000)} s: ${e.why}\n`);
      else progress(json ? `[${e.done}/${e.total}] ${e.result.status} ${e.result.id} [${label(e.result.prefix)}]` : caseLine(e.result));
    };
    const results = await runConformance(found, { slow, http, waitOutRateLimits: true, onProgress });
    const report = buildReport({ target: input, api, slow, endpoints: found.endpoints, notes: found.notes, results });
    if (json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else console.log(summaryLine(report));
    if (!json && report.counts.skip > 0 && !slow && results.some((r) => r.status === "skip" && r.message.includes("--slow"))) console.log("(run with --slow for the expiry cases)");
    return report.ok ? 0 : 1;
  } finally {
    http.close();
  }
}
