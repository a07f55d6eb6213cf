// bench:flow — headless MSC4108 sign-in on loopback (headline direction: the existing device scans the
// new device's QR), consent given automatically through the development homeserver's pages, run side
// by side on one development stack per row (VARIANTS): both protocol versions (2025: MSC4388 over its
// rendezvous API; 2024: matrix-js-sdk's ECIES channel over the ETag rendezvous), each with rendezvous
// polling and with long-poll. The version is forced, so no discovery request is counted. The runs of
// the rows alternate, so machine load falls on every row alike. Per row, median and p95 of:
//   (a) scan → check code shown: the existing device, from having the QR bytes to showing the code;
//   (b) the whole flow, excluding typing, consent and the token poll interval: the run's wall time
//       minus the span from the new device's first token request to the request that got the tokens.
//       That span is where the new device waits for the person consenting in the browser (here a
//       scripted browser, started earlier by the existing device) and for RFC 8628's interval between
//       token requests (1 s on the development stack); the protocol's own work around it stays in (b).
//       Typing the check code and confirming the account are instant here. Where the scripted consent
//       is over before the first token request (slow polling rows), nothing is excluded, so (b) then
//       still contains the consent: those rows are, if anything, flattered less;
// plus the secrets import (new device, "importing" → "verified") and rendezvous requests per sign-in.
// A run ends when both devices show their outcome; the existing device's clean-up afterwards (waiting
// for the new device to DELETE the session) is not timed, but its requests are counted.
// Goals (docs/development.md "Benchmarks"): (a) ≤ 60 ms median with long-poll; (b) ≤ 700 ms median;
// ≤ 14 requests per sign-in (16 is the floor of the message sequence, see there).
// Usage: npm run bench:flow [-- --runs N] [--poll-idle MS] [--timeline]
// --timeline prints every flow event of each row's last run, with its time since the run started.
// --poll-idle sets the 2025 rendezvous client's idle polling pace (polling rows only; the QR-showing
// device polls for the scanner every 250 ms regardless, the floor for any session's GETs). The 2024
// polling row polls as matrix-js-sdk does (every second, If-None-Match); its long-poll row adds the
// `since` opt-in to those GETs.

import { startDevStack, type DevStackOptions } from "../main/devstack/stack.js";
import { runNewDevice } from "../main/login/flows/new-device.js";
import { runExistingDevice } from "../main/login/flows/existing-device.js";
import { createNewDeviceMatrixPort } from "../main/login/matrix/port.js";
import { createSecureChannelPort, type SecureChannelAdapterOptions } from "../main/login/channel/port.js";
import { createOAuthPort } from "../main/login/oauth/port.js";
import { createHomeserverPort } from "../main/login/matrix/homeserver.js";
import { driveDevConsent } from "../main/devstack/dev-consent.js";
import { DEVICE_CODE_GRANT } from "../contract/oauth.js";
import type { FlowEvent, FlowOutcome, ProtocolVersion } from "../main/login/flows/ports.js";
import type { FetchLike } from "../main/protocol/rendezvous-http.js";

const args = process.argv.slice(2);
const runsArg = args.indexOf("--runs");
const RUNS = runsArg >= 0 ? Number(args[runsArg + 1]) : 20;
const idleArg = args.indexOf("--poll-idle");
const POLL = idleArg >= 0 ? { idleMs: Number(args[idleArg + 1]) } : undefined;
const TIMELINE = args.includes("--timeline");
const DEVICE_GRANT_FORM = new URLSearchParams({ grant_type: DEVICE_CODE_GRANT }).toString();
const CLIENT = { client_name: "bench:flow", client_uri: "https://example.org/", application_type: "native" as const };

/** One row of the table: a development stack and the channel options its sign-ins use. */
interface Variant {
  readonly name: string;
  readonly protocol: ProtocolVersion;
  readonly stack: DevStackOptions;
  readonly channel: SecureChannelAdapterOptions;
}

const VARIANTS: readonly Variant[] = [
  { name: "2025, polling", protocol: "2025", stack: { rendezvousLongPollMs: 0 }, channel: POLL ? { poll: POLL } : {} },
  { name: "2025, long-poll", protocol: "2025", stack: { rendezvousLongPollMs: 20_000 }, channel: {} },
  { name: "2024, polling", protocol: "2024", stack: { rendezvousLongPollMs: 0 }, channel: { longPoll2024: false } },
  { name: "2024, long-poll", protocol: "2024", stack: { rendezvousLongPollMs: 20_000 }, channel: { longPoll2024: true } },
];
/** Pairs compared in the ratio lines: [faster candidate, baseline]. */
const RATIOS: ReadonlyArray<readonly [string, string]> = [
  ["2025, long-poll", "2025, polling"],
  ["2024, long-poll", "2024, polling"],
  ["2024, long-poll", "2025, long-poll"],
];

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

interface Sample {
  scanToCode: number;
  timeline: string[];
  flowWithoutHuman: number;
  excludedWait: number;
  secretsImport: number;
  total: number;
  rendezvousRequests: number;
}

/** The device-grant token requests the new device sends, with when each went out and whether it got tokens. */
function watchTokenRequests(): { fetch: typeof fetch; requests: Array<{ at: number; ok: boolean }> } {
  const requests: Array<{ at: number; ok: boolean }> = [];
  const watched: typeof fetch = async (input, init) => {
    // oauth4webapi sends the form as URLSearchParams.
    const body = init?.body instanceof URLSearchParams || typeof init?.body === "string" ? String(init.body) : "";
    const isDeviceGrant = body.includes(DEVICE_GRANT_FORM);
    const at = performance.now();
    const res = await fetch(input, init);
    if (isDeviceGrant) requests.push({ at, ok: res.ok });
    return res;
  };
  return { fetch: watched, requests };
}

async function oneRun(stack: Awaited<ReturnType<typeof startDevStack>>, variant: Variant): Promise<Sample> {
  let rendezvousRequests = 0;
  const sent: Array<{ t: number; line: string }> = [];
  const counting: FetchLike = async (input, init) => {
    rendezvousRequests++;
    const t = performance.now();
    const url = new URL(input);
    const res = await fetch(input, init);
    const held = url.search ? ` ${url.search.slice(1, 6)}…` : "";
    sent.push({ t, line: `          rendezvous ${init.method ?? "GET"}${held} → ${res.status} after ${(performance.now() - t).toFixed(0)} ms` });
    return res;
  };
  const channel = createSecureChannelPort({ ...variant.channel, fetch: counting });
  const tokens = watchTokenRequests();
  const events: Record<"new" | "existing", Array<{ e: FlowEvent; t: number }>> = { new: [], existing: [] };
  const waiters: Array<() => void> = [];
  const push = (side: "new" | "existing") => (e: FlowEvent): void => {
    events[side].push({ e, t: performance.now() });
    for (const w of waiters.splice(0)) w();
  };
  const next = async <T extends FlowEvent["type"]>(side: "new" | "existing", type: T): Promise<Extract<FlowEvent, { type: T }>> => {
    for (;;) {
      const found = events[side].find((x) => x.e.type === type);
      if (found) return found.e as Extract<FlowEvent, { type: T }>;
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  let scanned = 0;
  let consentDone: Promise<void> = Promise.resolve();
  const localpart = stack.account.userId.slice(1, stack.account.userId.indexOf(":"));
  const t0 = performance.now();
  const [n, e] = await Promise.all([
    runNewDevice(
      {
        channel,
        // The development stack's server name (`localhost`) cannot be resolved: the 2024 peer names it.
        homeserver: createHomeserverPort({ pinned: stack.baseUrl }),
        oauth: createOAuthPort({ clientMetadata: CLIENT, fetch: tokens.fetch }),
        matrix: createNewDeviceMatrixPort(),
        ui: { enterCheckCode: async () => (await next("existing", "check_code")).code, confirmAccount: async () => true },
      },
      { mode: { kind: "generate", rendezvousUrl: stack.baseUrl }, lingerMs: 0, protocol: variant.protocol },
      { onEvent: push("new") },
    ),
    runExistingDevice(
      {
        channel,
        oauth: createOAuthPort({ clientMetadata: CLIENT }),
        matrix: stack.account.matrix,
        ui: {
          scanQr: async () => {
            const qr = new Uint8Array(Buffer.from((await next("new", "qr")).hex, "hex"));
            scanned = performance.now();
            return qr;
          },
          enterCheckCode: async () => {
            throw new Error("the scanner never types a code");
          },
          openUri: async (uri) => {
            consentDone = driveDevConsent(uri, { username: localpart, password: stack.password });
            return "opened";
          },
        },
      },
      { mode: { kind: "scan" }, protocol: variant.protocol },
      { onEvent: push("existing") },
    ),
  ]);
  await consentDone;
  n.signedIn?.client.stopClient();
  check(n.outcome, e);
  const at = (side: "new" | "existing", type: FlowEvent["type"]): number => events[side].find((x) => x.e.type === type)!.t;
  // The run ends when both devices show their outcome. After it, the existing device waits (invisibly)
  // for the new device to DELETE the session, deleting it itself if a peer never does: not timed, but
  // its rendezvous requests are counted below.
  const total = Math.max(at("new", "outcome"), at("existing", "outcome")) - t0;
  const first = tokens.requests[0];
  const success = tokens.requests.find((r) => r.ok);
  if (!first || !success) throw new Error("no device-grant token request was seen");
  const excludedWait = success.at - first.at;
  const describe = (e: FlowEvent): string => (e.type === "state" ? `→ ${e.state}` : e.type === "secrets_step" ? `${e.step} ${e.status}` : e.type);
  const timeline = [
    ...events.new.map((x) => ({ t: x.t, line: `new       ${describe(x.e)}` })),
    ...events.existing.map((x) => ({ t: x.t, line: `existing  ${describe(x.e)}` })),
    ...tokens.requests.map((r) => ({ t: r.at, line: `new       token request sent${r.ok ? " (answered with tokens)" : ""}` })),
    ...sent,
  ]
    .sort((a, b) => a.t - b.t)
    .map((x) => `${(x.t - t0).toFixed(0).padStart(6)} ms  ${x.line}`);
  return {
    timeline,
    scanToCode: at("existing", "check_code") - scanned,
    flowWithoutHuman: total - excludedWait,
    excludedWait,
    secretsImport: at("new", "verified") - at("new", "importing"),
    total,
    rendezvousRequests,
  };
}

function check(n: FlowOutcome, e: FlowOutcome): void {
  if (n.outcome !== "success" || e.outcome !== "success" || !n.crossSigned || !n.backup) {
    throw new Error(`sign-in failed: new ${JSON.stringify(n)}, existing ${JSON.stringify(e)}`);
  }
}

const stacks = [];
try {
  for (const v of VARIANTS) stacks.push(await startDevStack(v.stack));
  const samples: Sample[][] = VARIANTS.map(() => []);
  // One warm-up run per row (JIT, WASM compilation), not counted; then the rows alternate.
  for (let i = 0; i < VARIANTS.length; i++) await oneRun(stacks[i]!, VARIANTS[i]!);
  for (let r = 0; r < RUNS; r++) {
    for (let i = 0; i < VARIANTS.length; i++) samples[i]!.push(await oneRun(stacks[i]!, VARIANTS[i]!));
    // A full run takes minutes; stderr shows it is moving without mixing into the printed table.
    process.stderr.write(`\rbench:flow: round ${r + 1}/${RUNS}${r + 1 === RUNS ? "\n" : ""}`);
  }

  const cell = (v: number[]): string => `${quantile(v, 0.5).toFixed(0).padStart(7)} ${quantile(v, 0.95).toFixed(0).padStart(7)}`;
  const width = 46;
  const col = Math.max(18, ...VARIANTS.map((v) => v.name.length + 3));
  console.log(`bench:flow — ${RUNS} sign-ins per row (existing device scans), loopback, token poll interval 1 s${POLL ? `, idle poll ${POLL.idleMs} ms` : ""}`);
  console.log(`${"".padEnd(width)}${VARIANTS.map((v) => v.name.padStart(col)).join("")}`);
  console.log(`${"".padEnd(width)}${VARIANTS.map(() => "median     p95".padStart(col)).join("")}`);
  const row = (name: string, pick: (s: Sample) => number): void =>
    console.log(`${name.padEnd(width)}${samples.map((s) => cell(s.map(pick)).padStart(col)).join("")}`);
  row("(a) scan → check code shown (ms)", (s) => s.scanToCode);
  row("(b) flow w/o typing, consent, interval (ms)", (s) => s.flowWithoutHuman);
  row("    secrets import (ms, in b)", (s) => s.secretsImport);
  row("    excluded: consent + token interval (ms)", (s) => s.excludedWait);
  row("    whole run (ms)", (s) => s.total);
  row("rendezvous requests per sign-in", (s) => s.rendezvousRequests);
  if (TIMELINE) {
    for (let i = 0; i < VARIANTS.length; i++) console.log(`\ntimeline of the last run, ${VARIANTS[i]!.name}:\n${samples[i]!.at(-1)!.timeline.join("\n")}`);
    console.log("");
  }
  const med = (i: number, pick: (s: Sample) => number): number => quantile(samples[i]!.map(pick), 0.5);
  const index = (name: string): number => VARIANTS.findIndex((v) => v.name === name);
  for (const [a, b] of RATIOS) {
    const i = index(a);
    const j = index(b);
    console.log(`ratios ${a} / ${b}: (a) ${(med(i, (s) => s.scanToCode) / med(j, (s) => s.scanToCode)).toFixed(2)}×, (b) ${(med(i, (s) => s.flowWithoutHuman) / med(j, (s) => s.flowWithoutHuman)).toFixed(2)}×, requests ${(med(i, (s) => s.rendezvousRequests) / med(j, (s) => s.rendezvousRequests)).toFixed(2)}×`);
  }
  for (const name of ["2025, long-poll", "2024, long-poll"]) {
    const i = index(name);
    console.log(`goals (${name}): (a) ${med(i, (s) => s.scanToCode).toFixed(0)} / 60 ms, (b) ${med(i, (s) => s.flowWithoutHuman).toFixed(0)} / 700 ms, requests ${med(i, (s) => s.rendezvousRequests)} / 14`);
  }
} finally {
  for (const s of stacks) await s.close();
  setTimeout(() => process.exit(0), 1_000).unref();
}
