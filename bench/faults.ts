// faults — a measurement, not a test: many whole sign-ins per rendezvous fault × version × direction,
// between our two roles in one process (test/support/sign-in-pair.ts: the login flows, the real secure
// channel of each version, OAuth with the scripted consent, matrix-js-sdk), on one development stack,
// with the fault between the devices and the rendezvous server (test/support/fault-rigs.ts): a server
// restart (SQLite store), 20% of the answers lost after the server acted on them, two instances on Redis
// behind round robin, nginx with gzip in front. Prints, per row, the sign-ins that completed (both
// devices succeeded, the new one cross-signed with the backup) and every other outcome pair with its
// count, and how many runs the fault really met; with --verbose, what the fault did in each failed run
// (the lossy rig's seed replays it) or in a completed run it missed.
// --processes: the same sign-ins between the CLI roles as two child processes (`qr-login new-device`,
// `qr-login existing-device --session FILE`; test/support/sign-in-processes.ts plays the user on their
// stdin and stderr); a run completes when both exit 0 and the new device's summary says success,
// cross-signed, backup.
// Usage: npm run faults [-- --runs N] [--fault restart,lossy,instances,nginx] [--version 2024,2025]
//        [--direction existing_scans,new_scans] [--processes] [--seed N] [--timeout SECONDS] [--verbose]
// --timeout: a sign-in still running after this long is cancelled and counted as failed (default 90).
import { startDevStack } from "../main/devstack/stack.js";
import type { ProtocolVersion } from "../main/login/flows/ports.js";
import { FAULT_KINDS, startFaultRig, type ArmedFault, type FaultKind, type FaultRig } from "../test/support/fault-rigs.js";
import { nginxAvailable } from "../test/support/nginx.js";
import { describeOutcome, DIRECTIONS, signInPair, type Direction } from "../test/support/sign-in-pair.js";
import { describeRole, signInProcesses, startCliAccount } from "../test/support/sign-in-processes.js";

const args = process.argv.slice(2);
function option(name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}
function list<T extends string>(name: string, all: readonly T[]): T[] {
  const v = option(name);
  if (v === undefined) return [...all];
  const picked = v.split(",").map((x) => x.trim());
  for (const p of picked) {
    if (!(all as readonly string[]).includes(p)) {
      console.error(`faults: --${name} takes ${all.join(", ")}; not ${p}`);
      process.exit(2);
    }
  }
  return picked as T[];
}

const RUNS = Number(option("runs") ?? 20);
const SEED = Number(option("seed") ?? 4108);
const TIMEOUT_S = Number(option("timeout") ?? 90);
const VERBOSE = args.includes("--verbose");
const PROCESSES = args.includes("--processes");
const FAULTS = list<FaultKind>("fault", FAULT_KINDS);
const VERSIONS = list<ProtocolVersion>("version", ["2025", "2024"]);
const DIRS = list<Direction>("direction", DIRECTIONS);
if (!Number.isInteger(RUNS) || RUNS < 1 || !Number.isInteger(SEED) || !Number.isInteger(TIMEOUT_S) || TIMEOUT_S < 5) {
  console.error("faults: --runs, --seed and --timeout (at least 5) take whole numbers");
  process.exit(2);
}

interface Row {
  fault: FaultKind;
  version: ProtocolVersion;
  direction: Direction;
  completed: number;
  runs: number;
  ms: number[];
  /** "new device outcome / existing device outcome" → count. */
  failures: Map<string, number>;
  /** Runs the fault really met (restarted, answers lost, both instances used, through nginx). */
  met: number;
  notes: string[];
}

interface RunResult {
  completed: boolean;
  ms: number;
  /** "new device outcome / existing device outcome", for a run that did not complete. */
  key: string;
  /** What else a failed run's note should say (the processes' last stderr lines). */
  detail?: string;
}
type RunOne = (row: Row, rig: FaultRig, armed: ArmedFault) => Promise<RunResult>;
interface Setup {
  /** The development homeserver the rigs route non-rendezvous paths to. */
  homeserverUrl: string;
  runOne: RunOne;
  close(): Promise<void>;
}

/** The two roles in this process, on the development stack. */
async function inProcess(): Promise<Setup> {
  const stack = await startDevStack();
  const localpart = stack.account.userId.slice(1, stack.account.userId.indexOf(":"));
  const account = { homeserverUrl: stack.baseUrl, existing: stack.account.matrix, username: localpart, password: stack.password, userId: stack.account.userId };
  const runOne: RunOne = async (row, rig, armed) => {
    const run = await signInPair(account, {
      version: row.version,
      direction: row.direction,
      // A 2025 QR shown by the existing device names its URL as the homeserver.
      rendezvousUrl: row.version === "2025" && row.direction === "new_scans" ? rig.homeserverUrl : rig.url,
      onEvent: armed.onEvent,
      timeoutMs: TIMEOUT_S * 1_000,
    });
    return { completed: run.verified, ms: run.ms, key: `new ${describeOutcome(run.newOutcome)} / existing ${describeOutcome(run.existingOutcome)}` };
  };
  return { homeserverUrl: stack.baseUrl, runOne, close: () => stack.close() };
}

/** The two CLI roles as child processes, against a development homeserver with the demo account's session file. */
async function asProcesses(): Promise<Setup> {
  const account = await startCliAccount();
  const runOne: RunOne = async (row, rig, armed) => {
    // The CLI's existing device shows its QR on its session's homeserver: the router through the fault.
    const rendezvousUrl = row.direction === "new_scans" ? rig.homeserverUrl : rig.url;
    const run = await signInProcesses(account, { version: row.version, direction: row.direction, rendezvousUrl, onEvent: armed.onEvent, timeoutMs: TIMEOUT_S * 1_000 });
    const key = `new ${describeRole(run.newDevice, run.timedOut)} / existing ${describeRole(run.existingDevice, run.timedOut)}`;
    const detail = [
      run.consentError ? `consent: ${run.consentError}` : "",
      `new device: ${run.newDevice.tail.join(" | ")}`,
      `existing device: ${run.existingDevice.tail.join(" | ")}`,
    ].filter(Boolean).join("\n    ");
    return { completed: run.verified, ms: run.ms, key, detail };
  };
  return { homeserverUrl: account.homeserverUrl, runOne, close: () => account.close() };
}

const setup = PROCESSES ? await asProcesses() : await inProcess();
const rows: Row[] = [];
const started = performance.now();
try {
  for (const fault of FAULTS) {
    if (fault === "nginx" && !nginxAvailable()) {
      console.error("faults: nginx is not installed; skipping its rows");
      continue;
    }
    const rig = await startFaultRig(fault, setup.homeserverUrl, { seed: SEED });
    try {
      const mine = VERSIONS.flatMap((version) => DIRS.map((direction): Row => ({ fault, version, direction, completed: 0, runs: 0, met: 0, ms: [], failures: new Map(), notes: [] })));
      rows.push(...mine);
      // The rows alternate run by run, so machine load falls on every row alike.
      for (let r = 0; r < RUNS; r++) {
        for (const [i, row] of mine.entries()) {
          const armed = rig.arm(r * mine.length + i);
          const run = await setup.runOne(row, rig, armed);
          const { hit, note } = await armed.done();
          row.runs++;
          if (hit) row.met++;
          row.ms.push(run.ms);
          if (!run.completed) {
            row.failures.set(run.key, (row.failures.get(run.key) ?? 0) + 1);
            row.notes.push(`run ${r + 1}: ${run.key}; ${note}${run.detail ? `\n    ${run.detail}` : ""}`);
          } else {
            row.completed++;
            if (!hit) row.notes.push(`run ${r + 1}: completed; ${note}`);
          }
          process.stderr.write(`\rfaults: ${fault} round ${r + 1}/${RUNS}, ${((performance.now() - started) / 1000).toFixed(0)} s   `);
        }
      }
      process.stderr.write("\n");
    } finally {
      await rig.close();
    }
  }

  const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)] ?? 0;
  const roles = PROCESSES ? "our two CLI roles (child processes)" : "our two roles (in process)";
  console.log(`faults — ${RUNS} whole sign-ins per row between ${roles}, development stack on loopback`);
  console.log(`${"fault".padEnd(10)}${"version".padEnd(9)}${"direction".padEnd(16)}${"completed".padStart(10)}${"fault met".padStart(10)}${"median s".padStart(10)}  other outcomes (new device / existing device)`);
  for (const row of rows) {
    const other = [...row.failures].map(([k, n]) => `${n}× ${k}`).join("; ") || "—";
    console.log(`${row.fault.padEnd(10)}${row.version.padEnd(9)}${row.direction.padEnd(16)}${`${row.completed}/${row.runs}`.padStart(10)}${`${row.met}/${row.runs}`.padStart(10)}${(median(row.ms) / 1000).toFixed(1).padStart(10)}  ${other}`);
  }
  if (VERBOSE) {
    for (const row of rows.filter((r) => r.notes.length)) console.log(`\n${row.fault} ${row.version} ${row.direction}:\n  ${row.notes.join("\n  ")}`);
  }
  const total = rows.reduce((n, r) => n + r.runs, 0);
  const done = rows.reduce((n, r) => n + r.completed, 0);
  console.log(`\n${done} of ${total} sign-ins completed in ${((performance.now() - started) / 60_000).toFixed(1)} min`);
  process.exitCode = done === total ? 0 : 1;
} finally {
  await setup.close();
  setTimeout(() => process.exit(), 1_000).unref();
}
