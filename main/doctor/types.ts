// What `qr-login doctor` reports (docs/architecture.md "Contracts"): one result per check, each with a
// status, what was seen and the fix in the operator's terms, then a verdict in a person's words.
// Plain data only: the same objects go to the CLI's JSON and, rebuilt, over IPC to the app's renderer.

/** The checks, in report order. Every run reports each id exactly once (discovery.well-known only for a server name). */
export const CHECKS = [
  { id: "discovery.well-known", title: "Server name → homeserver (.well-known)" },
  { id: "discovery.versions", title: "/versions and its unstable features" },
  { id: "oauth.metadata", title: "OAuth 2.0 server metadata" },
  { id: "oauth.device-grant", title: "Device authorization grant" },
  { id: "oauth.registration", title: "Dynamic client registration" },
  { id: "rendezvous-2024.create", title: "2024 version: create a session" },
  { id: "rendezvous-2024.consistent", title: "2024 version: every request sees the session as written" },
  { id: "rendezvous-2024.etag", title: "2024 version: strong ETags as clients receive them" },
  { id: "rendezvous-2024.conditional", title: "2024 version: If-Match and If-None-Match reach the server" },
  { id: "rendezvous-2024.content-type", title: "2024 version: exact Content-Type" },
  { id: "rendezvous-2024.cors", title: "2024 version: CORS as Element Web needs it" },
  { id: "rendezvous-2025.create", title: "2025 version (MSC4388): create a session" },
  { id: "rendezvous-2025.consistent", title: "2025 version: every request sees the session as written" },
  { id: "rendezvous-2025.sequence", title: "2025 version: sequence tokens and retried writes" },
  { id: "rendezvous-2025.cors", title: "2025 version: CORS for browser clients" },
  { id: "rendezvous.body-size", title: "A 4 KiB payload through the proxy" },
  { id: "rendezvous.long-poll", title: "A held GET (long-poll) through the proxy" },
  { id: "clock", title: "Clocks" },
  { id: "tls", title: "TLS" },
] as const;

export type CheckId = (typeof CHECKS)[number]["id"];
export type CheckStatus = "pass" | "warn" | "fail" | "skip";

export interface CheckResult {
  readonly id: CheckId;
  readonly status: CheckStatus;
  /** What was seen, in a sentence. */
  readonly summary: string;
  /** What to change, in the operator's terms (nginx/Traefik directive, Synapse/MAS setting); null when nothing. */
  readonly fix: string | null;
}

/** Which clients can sign in with this deployment, and in which direction. */
export interface VerdictLine {
  /** Who this line is about, e.g. "Element X and Element Web (2024 version)". */
  readonly clients: string;
  /** pass: they can; warn: partly (one direction, one client); fail: they cannot. */
  readonly status: "pass" | "warn" | "fail";
  readonly summary: string;
}

export interface DoctorReport {
  /** The homeserver URL or server name as given. */
  readonly target: string;
  /** The base URL that was checked (after .well-known for a server name); null if none was found. */
  readonly baseUrl: string | null;
  /** True exactly when no check failed. */
  readonly ok: boolean;
  readonly checks: readonly CheckResult[];
  readonly verdict: readonly VerdictLine[];
}

/** Progress while the checks run (the CLI prints it on stderr; the app shows it). */
export type DoctorEvent =
  | { readonly type: "plan"; readonly target: string; readonly checks: readonly { id: CheckId; title: string }[] }
  | { readonly type: "running"; readonly id: CheckId; readonly detail: string }
  | { readonly type: "result"; readonly check: CheckResult };

export const CHECK_IDS: readonly CheckId[] = CHECKS.map((c) => c.id);

export function isCheckId(v: unknown): v is CheckId {
  return typeof v === "string" && (CHECK_IDS as readonly string[]).includes(v);
}

export function titleOf(id: CheckId): string {
  return CHECKS.find((c) => c.id === id)!.title;
}
