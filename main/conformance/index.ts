// Public API of the rendezvous conformance runner (used by `qr-login conformance` and by
// test/conformance/): find the APIs behind a base URL, run the cases, report.
export type { ApiVersion, RendezvousCase } from "./cases.js";
export { CASES, PREFIX_2024, PREFIX_UNSTABLE, PREFIX_V1 } from "./cases.js";
export type { ApiChoice, Discovery, ParsedTarget } from "./discover.js";
export { discover, parseTarget, TargetError, TargetInputError } from "./discover.js";
export type { HttpClient, Reply } from "./http.js";
export { createHttpClient, NetworkError } from "./http.js";
export type { ConformanceReport, ReportCase } from "./report.js";
export { buildReport, countResults } from "./report.js";
export type { CaseResult, CaseStatus, Endpoint, ProgressEvent, RunOptions, ServerControl, Target } from "./runner.js";
export { DEFAULT_TIMEOUT_MS, planCases, runCase, runConformance, SPECS } from "./runner.js";
export type { CaseSpec, ServerSetup } from "./spec.js";
