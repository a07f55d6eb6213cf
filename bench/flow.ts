// bench:flow — headless MSC4108 sign-in on loopback (headline direction: the existing device scans the
// new device's QR), consent given automatically through the development homeserver's pages, for both
// versions side by side in one run (runs interleaved: 2025 over MSC4388, 2024 over its ETag rendezvous
// and matrix-js-sdk's ECIES channel; the version is forced, so no discovery request is counted).
// Prints median and p95 per version over the runs of:
//   (a) scan → check code shown (the existing device, from having the QR bytes to showing the code);
//   (b) the whole flow, excluding the user's typing (instant here) and the consent in the browser;
// and the rendezvous requests per sign-in. Targets (docs/development.md "Benchmarks"): (a) ≤ 300 ms
// median; (b) ≤ 2 s plus one token poll interval (the development stack polls every 1 s).
// Usage: npm run bench:flow [-- --runs N] [--poll-idle MS] [--no-long-poll-2024]
// --poll-idle sets the rendezvous client's idle polling pace (used after ~5 s without an answer; the
// QR-showing device polls for the scanner every 250 ms regardless, the floor for any session's GETs).

import { startDevStack } from "../main/devstack/stack.js";
import { runNewDevice } from "../main/login/new-device.js";
import { runExistingDevice } from "../main/login/existing-device.js";
import { createNewDeviceMatrixPort, createSecureChannelPort } from "../main/login/adapters.js";
import { createOAuthPort } from "../main/login/oauth-port.js";
import { createHomeserverPort } from "../main/login/homeserver.js";
import { driveDevConsent } from "../main/login/dev-consent.js";
import type { FlowEvent, FlowOutcome, ProtocolVersion } from "../main/login/ports.js";
import type { FetchLike } from "../main/protocol/rendezvous.js";

const args = process.argv.slice(2);
const runsArg = args.indexOf("--runs");
const RUNS = runsArg >= 0 ? Number(args[runsArg + 1]) : 20;
const idleArg = args.indexOf("--poll-idle");
const POLL = idleArg >= 0 ? { idleMs: Number(args[idleArg + 1]) } : undefined;
// The 2024 client sends the long-poll `since` parameter by default; this measures it polling as matrix-js-sdk does.
const LONG_POLL_2024 = !args.includes("--no-long-poll-2024");
const CLIENT = { client_name: "bench:flow", client_uri: "https://example.org/", application_type: "native" as const };

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

interface Sample {
  scanToCode: number;
  flowExcludingConsent: number;
  consent: number;
  total: number;
  rendezvousRequests: number;
}

async function oneRun(stack: Awaited<ReturnType<typeof startDevStack>>, protocol: ProtocolVersion): Promise<Sample> {
  let rendezvousRequests = 0;
  const counting: FetchLike = (input, init) => {
    rendezvousRequests++;
    return fetch(input, init);
  };
  const channel = createSecureChannelPort({ fetch: counting, longPoll2024: LONG_POLL_2024, ...(POLL ? { poll: POLL } : {}) });
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
  let consentMs = 0;
  let consentDone: Promise<void> = Promise.resolve();
  const localpart = stack.account.userId.slice(1, stack.account.userId.indexOf(":"));
  const t0 = performance.now();
  const [n, e] = await Promise.all([
    runNewDevice(
      {
        channel,
        homeserver: createHomeserverPort({ pinned: stack.baseUrl }),
        oauth: createOAuthPort({ clientMetadata: CLIENT }),
        matrix: createNewDeviceMatrixPort(),
        ui: { enterCheckCode: async () => (await next("existing", "check_code")).code, confirmAccount: async () => true },
      },
      { mode: { kind: "generate", rendezvousUrl: stack.baseUrl }, lingerMs: 0, protocol },
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
            const start = performance.now();
            consentDone = driveDevConsent(uri, { username: localpart, password: stack.password }).then(() => {
              consentMs = performance.now() - start;
            });
            return "opened";
          },
        },
      },
      { mode: { kind: "scan" } },
      { onEvent: push("existing") },
    ),
  ]);
  const total = performance.now() - t0;
  await consentDone;
  n.session?.client.stopClient();
  check(n.outcome, e);
  const codeShown = events.existing.find((x) => x.e.type === "check_code")!.t;
  // The poll that follows consent waits up to one interval: that wait belongs to (b)'s allowance.
  return { scanToCode: codeShown - scanned, flowExcludingConsent: total - consentMs, consent: consentMs, total, rendezvousRequests };
}

function check(n: FlowOutcome, e: FlowOutcome): void {
  if (n.outcome !== "success" || e.outcome !== "success" || !n.crossSigned || !n.backup) {
    throw new Error(`sign-in failed: new ${JSON.stringify(n)}, existing ${JSON.stringify(e)}`);
  }
}

const VERSIONS: ProtocolVersion[] = ["2025", "2024"];
const stack = await startDevStack();
try {
  const samples: Record<ProtocolVersion, Sample[]> = { "2025": [], "2024": [] };
  // One warm-up run per version (JIT, WASM compilation), not counted.
  for (const v of VERSIONS) await oneRun(stack, v);
  for (let i = 0; i < RUNS; i++) for (const v of VERSIONS) samples[v].push(await oneRun(stack, v));
  const cell = (v: ProtocolVersion, pick: (s: Sample) => number, q: number): string => quantile(samples[v].map(pick), q).toFixed(0).padStart(7);
  const row = (name: string, pick: (s: Sample) => number, goal: string): string =>
    `${name.padEnd(46)} ${cell("2025", pick, 0.5)} ${cell("2025", pick, 0.95)}   ${cell("2024", pick, 0.5)} ${cell("2024", pick, 0.95)}   ${goal}`;
  console.log(`bench:flow — ${RUNS} sign-ins per version (existing device scans), loopback, token poll interval 1 s, rendezvous idle poll ${POLL ? `${POLL.idleMs} ms` : "default"}, 2024 ${LONG_POLL_2024 ? "long-poll" : "polling (matrix-js-sdk's 1 s)"}`);
  console.log(`${"".padEnd(46)} ${"2025".padStart(15)}   ${"2024".padStart(15)}`);
  console.log(`${"".padEnd(46)} ${"median".padStart(7)} ${"p95".padStart(7)}   ${"median".padStart(7)} ${"p95".padStart(7)}   goal`);
  console.log(row("(a) scan → check code shown (ms)", (s) => s.scanToCode, "≤ 300 ms median"));
  console.log(row("(b) flow without typing and consent (ms)", (s) => s.flowExcludingConsent, "≤ 2000 ms + 1000 ms poll interval"));
  console.log(row("    consent in the browser (ms, excluded)", (s) => s.consent, ""));
  console.log(row("    whole run (ms)", (s) => s.total, ""));
  for (const v of VERSIONS) {
    const reqs = samples[v].map((s) => s.rendezvousRequests);
    console.log(`${v}: rendezvous requests per sign-in: median ${quantile(reqs, 0.5)}, min ${Math.min(...reqs)}, max ${Math.max(...reqs)}`);
  }
  const median = (v: ProtocolVersion, pick: (s: Sample) => number): number => quantile(samples[v].map(pick), 0.5);
  for (const v of VERSIONS) {
    console.log(`${v} ratios to goal: (a) ${(median(v, (s) => s.scanToCode) / 300).toFixed(2)}×, (b) ${(median(v, (s) => s.flowExcludingConsent) / 3000).toFixed(2)}×`);
  }
  console.log(`2024 / 2025 (medians): (a) ${(median("2024", (s) => s.scanToCode) / median("2025", (s) => s.scanToCode)).toFixed(2)}×, (b) ${(median("2024", (s) => s.flowExcludingConsent) / median("2025", (s) => s.flowExcludingConsent)).toFixed(2)}×, requests ${(median("2024", (s) => s.rendezvousRequests) / median("2025", (s) => s.rendezvousRequests)).toFixed(2)}×`);
} finally {
  await stack.close();
  setTimeout(() => process.exit(0), 1_000).unref();
}
