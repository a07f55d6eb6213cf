// `qr-login doctor <homeserver URL | server name> [--json]`: runs main/doctor against a deployment and
// prints one line per check (status, id, summary, fix) and the verdict; progress goes to stderr.
// Contract (docs/architecture.md "Contracts"): --json prints one JSON object
// {"target","ok","checks":[{"id","status","summary","fix"}],…}; exit 0 when no check fails, 1 when
// one does, 2 on bad arguments.
import { runDoctor, TargetError, type CheckStatus, type DoctorEvent, type DoctorReport } from "../doctor/index.js";
import { parseCommandArgs, UsageError } from "./args.js";

export const summary = "check a deployment for sign in with QR: discovery, OAuth, both rendezvous APIs, proxies, TLS, clocks";

const HELP = `usage: qr-login doctor <homeserver URL | server name> [options]

Acts as Element's apps and qr-login do, from the outside, and reports each thing a sign-in with a QR
code needs from the deployment: discovery (/.well-known, /versions), OAuth 2.0 (metadata, device
authorization grant, client registration), the 2024 rendezvous API (what Element X and Element Web
use) and the 2025 one (MSC4388), through whatever proxy is in front: ETags, conditional requests,
Content-Type, CORS, sessions shared between backends, 4 KiB payloads, held GETs; TLS and clocks.
Each line says what was seen and the fix; the verdict says which clients can sign in.

It creates a handful of rendezvous sessions and deletes them before it exits. It never signs in,
never registers a user, and registers no OAuth client unless --register-client says so.

options:
  --json              one JSON object on stdout: {"target", "baseUrl", "ok", "checks": [{"id",
                      "status", "summary", "fix"}, ...], "verdict": [{"clients", "status", "summary"}]}
  --register-client   also register one test OAuth client and request one device authorization
                      (never approved; it expires)
  --timeout SECONDS   per request, 1..60 (default 10)

environment:
  QR_LOGIN_ACCESS_TOKEN  an access token of any account on the homeserver: lets the checks create
                         sessions where only signed-in devices may (authenticated mode)

exit status: 0 when no check fails, 1 when one does, 2 on bad arguments`;

const MARK: Record<CheckStatus, string> = { pass: "PASS", warn: "WARN", fail: "FAIL", skip: "SKIP" };

export function formatReport(report: DoctorReport, seconds: number): string {
  const width = Math.max(...report.checks.map((c) => c.id.length));
  const lines = [`qr-login doctor: ${report.baseUrl ?? report.target}${report.baseUrl && report.baseUrl !== report.target && !report.target.includes("://") ? ` (${report.target})` : ""}`, ""];
  for (const c of report.checks) lines.push(`${MARK[c.status]}  ${c.id.padEnd(width)}  ${c.summary}${c.fix ? `  Fix: ${c.fix}` : ""}`);
  lines.push("", "Verdict:");
  for (const v of report.verdict) lines.push(`${MARK[v.status]}  ${v.clients}: ${v.summary}`);
  const count = (s: CheckStatus) => report.checks.filter((c) => c.status === s).length;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  lines.push("", `${count("fail")} failed, ${plural(count("warn"), "warning")}, ${count("pass")} passed, ${count("skip")} skipped (${seconds.toFixed(1)} s)`);
  return lines.join("\n");
}

function progress(started: number): (e: DoctorEvent) => void {
  return (e) => {
    const t = `[${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s]`;
    if (e.type === "plan") process.stderr.write(`${t} checking ${e.target}: ${e.checks.length} checks\n`);
    else if (e.type === "running") process.stderr.write(`${t} ${e.id}: ${e.detail}\n`);
    else process.stderr.write(`${t} ${e.check.id}: ${e.check.status}\n`);
  };
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { timeout: { type: "string" }, json: { type: "boolean" }, "register-client": { type: "boolean" }, help: { type: "boolean" } });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? "give a homeserver URL or server name (see --help)" : `unexpected argument "${positionals[1]}"`);
  const timeout = values.timeout;
  const timeoutS = timeout === undefined ? 10 : Number(timeout);
  if (!Number.isInteger(timeoutS) || timeoutS < 1 || timeoutS > 60) throw new UsageError(`--timeout must be whole seconds from 1 to 60, got ${timeout}`);
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once("SIGINT", onSignal);
  const started = performance.now();
  let report: DoctorReport;
  try {
    report = await runDoctor(positionals[0]!, {
      onEvent: progress(started),
      signal: abort.signal,
      requestTimeoutMs: timeoutS * 1000,
      registerClient: values["register-client"] === true,
      ...(process.env.QR_LOGIN_ACCESS_TOKEN ? { accessToken: process.env.QR_LOGIN_ACCESS_TOKEN } : {}),
    });
  } catch (err) {
    if (err instanceof TargetError) throw new UsageError(err.message);
    throw err;
  } finally {
    process.off("SIGINT", onSignal);
  }
  if (abort.signal.aborted) {
    process.stderr.write("cancelled (the sessions created so far were deleted)\n");
    return 130;
  }
  const seconds = (performance.now() - started) / 1000;
  if (values.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else process.stdout.write(`${formatReport(report, seconds)}\n`);
  return report.ok ? 0 : 1;
}
