// Running the doctor in tests, and what every report must satisfy (the contract of
// docs/architecture.md: each listed id exactly once, `ok` exactly when nothing failed).
import { expect } from "@jest/globals";
import { runDoctor, type CheckId, type CheckResult, type DoctorOptions, type DoctorReport } from "../../main/doctor/index.js";

/** The ids the issue lists; every run reports each exactly once. */
export const REQUIRED_IDS = [
  "discovery.versions", "oauth.metadata", "oauth.device-grant", "rendezvous-2024.create", "rendezvous-2024.consistent", "rendezvous-2024.etag",
  "rendezvous-2024.conditional", "rendezvous-2024.cors", "rendezvous-2025.create", "rendezvous-2025.consistent", "rendezvous-2025.cors",
  "rendezvous.body-size", "rendezvous.long-poll", "clock", "tls",
] as const;

export interface Diagnosis extends DoctorReport {
  /** Each check by id. */
  readonly by: Readonly<Record<CheckId, CheckResult>>;
  /** id → status, for compact assertions. */
  readonly statuses: Readonly<Record<string, string>>;
}

export function expectContract(report: DoctorReport): void {
  for (const id of REQUIRED_IDS) expect(report.checks.filter((c) => c.id === id)).toHaveLength(1);
  expect(new Set(report.checks.map((c) => c.id)).size).toBe(report.checks.length);
  for (const c of report.checks) {
    expect(["pass", "warn", "fail", "skip"]).toContain(c.status);
    expect(c.summary.length).toBeGreaterThan(0);
    if (c.status === "pass" || c.status === "skip") expect(c.fix).toBeNull();
    else expect(typeof c.fix === "string" && c.fix.length > 0).toBe(true);
  }
  expect(report.ok).toBe(report.checks.every((c) => c.status !== "fail"));
}

export function diagnosis(report: DoctorReport): Diagnosis {
  expectContract(report);
  const by = Object.fromEntries(report.checks.map((c) => [c.id, c])) as Record<CheckId, CheckResult>;
  const statuses = Object.fromEntries(report.checks.map((c) => [c.id, c.status]));
  return { ...report, by, statuses };
}

/** Run the doctor with test-sized timeouts and check the report's contract. */
export async function diagnose(target: string, opts: DoctorOptions = {}): Promise<Diagnosis> {
  return diagnosis(await runDoctor(target, { requestTimeoutMs: 5_000, maxHoldMs: 10_000, ...opts }));
}

/** The ids with this status. */
export function withStatus(d: Diagnosis, status: string): string[] {
  return d.checks.filter((c) => c.status === status).map((c) => c.id);
}
