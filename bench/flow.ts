// bench:flow — headless MSC4108 sign-in on loopback (headline direction: the existing device scans the
// new device's QR), consent given automatically through the development homeserver's pages.
// Prints median and p95 over the runs of:
//   (a) scan → check code shown (the existing device, from having the QR bytes to showing the code);
//   (b) the whole flow, excluding the user's typing (instant here) and the consent in the browser;
// and the rendezvous requests per sign-in. Targets (docs/development.md "Benchmarks"): (a) ≤ 300 ms
// median; (b) ≤ 2 s plus one token poll interval (the development stack polls every 1 s).
// Usage: npm run bench:flow [-- --runs N] [--poll-idle MS]
// --poll-idle sets the rendezvous client's idle polling pace (used after ~5 s without an answer; the
// QR-showing device polls for the scanner every 250 ms regardless, the floor for any session's GETs).

import { startDevStack } from "../main/devstack/stack.js";
import { runNewDevice } from "../main/login/new-device.js";
import { runExistingDevice } from "../main/login/existing-device.js";
import { createNewDeviceMatrixPort, createSecureChannelPort } from "../main/login/adapters.js";
import { createOAuthPort } from "../main/login/oauth-port.js";
import { createHomeserverPort } from "../main/login/homeserver.js";
import { driveDevConsent } from "../main/login/dev-consent.js";
import type { FlowEvent, FlowOutcome } from "../main/login/ports.js";
import type { FetchLike } from "../main/protocol/rendezvous.js";

const args = process.argv.slice(2);
const runsArg = args.indexOf("--runs");
const RUNS = runsArg >= 0 ? Number(args[runsArg + 1]) : 20;
const idleArg = args.indexOf("--poll-idle");
const POLL = idleArg >= 0 ? { idleMs: Number(args[idleArg + 1]) } : undefined;
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

async function oneRun(stack: Awaited<ReturnType<typeof startDevStack>>): Promise<Sample> {
  let rendezvousRequests = 0;
  const counting: FetchLike = (input, init) => {
    rendezvousRequests++;
    return fetch(input, init);
  };
  const channel = createSecureChannelPort({ fetch: counting, ...(POLL ? { poll: POLL } : {}) });
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
      { mode: { kind: "generate", rendezvousUrl: stack.baseUrl }, lingerMs: 0 },
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

const stack = await startDevStack();
try {
  const samples: Sample[] = [];
  // One warm-up run (JIT, WASM compilation), not counted.
  await oneRun(stack);
  for (let i = 0; i < RUNS; i++) samples.push(await oneRun(stack));
  const row = (name: string, pick: (s: Sample) => number, goal: string): string => {
    const v = samples.map(pick);
    return `${name.padEnd(46)} ${quantile(v, 0.5).toFixed(0).padStart(7)} ${quantile(v, 0.95).toFixed(0).padStart(7)}   ${goal}`;
  };
  console.log(`bench:flow — ${RUNS} sign-ins (existing device scans), loopback, token poll interval 1 s, rendezvous idle poll ${POLL ? `${POLL.idleMs} ms` : "default"}`);
  console.log(`${"".padEnd(46)} ${"median".padStart(7)} ${"p95".padStart(7)}   goal`);
  console.log(row("(a) scan → check code shown (ms)", (s) => s.scanToCode, "≤ 300 ms median"));
  console.log(row("(b) flow without typing and consent (ms)", (s) => s.flowExcludingConsent, "≤ 2000 ms + 1000 ms poll interval"));
  console.log(row("    consent in the browser (ms, excluded)", (s) => s.consent, ""));
  console.log(row("    whole run (ms)", (s) => s.total, ""));
  const reqs = samples.map((s) => s.rendezvousRequests);
  console.log(`rendezvous requests per sign-in: median ${quantile(reqs, 0.5)}, min ${Math.min(...reqs)}, max ${Math.max(...reqs)}`);
  const a = quantile(samples.map((s) => s.scanToCode), 0.5);
  const b = quantile(samples.map((s) => s.flowExcludingConsent), 0.5);
  console.log(`ratios to goal: (a) ${(a / 300).toFixed(2)}×, (b) ${(b / 3000).toFixed(2)}×`);
} finally {
  await stack.close();
  setTimeout(() => process.exit(0), 1_000).unref();
}
