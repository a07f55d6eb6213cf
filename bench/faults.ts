// faults — a measurement, not a test: many whole sign-ins per rendezvous fault × version × direction,
// between our two roles in one process (test/support/sign-in-pair.ts: the login flows, the real secure
// channel of each version, OAuth with the scripted consent, matrix-js-sdk), on one development stack,
// with the fault between the devices and the rendezvous server (test/support/fault-rigs.ts): a server
// restart (SQLite store), 20% of the answers lost after the server acted on them, two instances on Redis
// behind round robin, nginx with gzip in front. Prints, per row, the sign-ins that completed (both
// devices succeeded, the new one cross-signed with the backup) and every other outcome pair with its
// count; with --verbose, what the fault did in each failed run (the lossy rig's seed replays it).
// Usage: npm run faults [-- --runs N] [--fault restart,lossy,instances,nginx] [--version 2024,2025]
//        [--direction existing_scans,new_scans] [--seed N] [--timeout SECONDS] [--verbose]
// --timeout: a sign-in still running after this long is cancelled and counted as failed (default 90).
import { startDevStack } from "../main/devstack/stack.js";
import type { ProtocolVersion } from "../main/login/flows/ports.js";
import { FAULT_KINDS, startFaultRig, type FaultKind } from "../test/support/fault-rigs.js";
import { nginxAvailable } from "../test/support/nginx.js";
import { describeOutcome, DIRECTIONS, signInPair, type Direction } from "../test/support/sign-in-pair.js";

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
  notes: string[];
}

const stack = await startDevStack();
const localpart = stack.account.userId.slice(1, stack.account.userId.indexOf(":"));
const account = { homeserverUrl: stack.baseUrl, existing: stack.account.matrix, username: localpart, password: stack.password, userId: stack.account.userId };
const rows: Row[] = [];
const started = performance.now();
try {
  for (const fault of FAULTS) {
    if (fault === "nginx" && !nginxAvailable()) {
      console.error("faults: nginx is not installed; skipping its rows");
      continue;
    }
    const rig = await startFaultRig(fault, stack.baseUrl, { seed: SEED });
    try {
      const mine = VERSIONS.flatMap((version) => DIRS.map((direction): Row => ({ fault, version, direction, completed: 0, runs: 0, ms: [], failures: new Map(), notes: [] })));
      rows.push(...mine);
      // The rows alternate run by run, so machine load falls on every row alike.
      for (let r = 0; r < RUNS; r++) {
        for (const [i, row] of mine.entries()) {
          const armed = rig.arm(r * mine.length + i);
          const run = await signInPair(account, {
            version: row.version,
            direction: row.direction,
            // A 2025 QR shown by the existing device names its URL as the homeserver.
            rendezvousUrl: row.version === "2025" && row.direction === "new_scans" ? rig.homeserverUrl : rig.url,
            onEvent: armed.onEvent,
            timeoutMs: TIMEOUT_S * 1_000,
          });
          const { note } = await armed.done();
          row.runs++;
          row.ms.push(run.ms);
          if (run.verified) {
            row.completed++;
          } else {
            const key = `new ${describeOutcome(run.newOutcome)} / existing ${describeOutcome(run.existingOutcome)}`;
            row.failures.set(key, (row.failures.get(key) ?? 0) + 1);
            row.notes.push(`run ${r + 1}: ${key}; ${note}`);
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
  console.log(`faults — ${RUNS} whole sign-ins per row between our two roles (in process), development stack on loopback`);
  console.log(`${"fault".padEnd(10)}${"version".padEnd(9)}${"direction".padEnd(16)}${"completed".padStart(10)}${"median s".padStart(10)}  other outcomes (new device / existing device)`);
  for (const row of rows) {
    const other = [...row.failures].map(([k, n]) => `${n}× ${k}`).join("; ") || "—";
    console.log(`${row.fault.padEnd(10)}${row.version.padEnd(9)}${row.direction.padEnd(16)}${`${row.completed}/${row.runs}`.padStart(10)}${(median(row.ms) / 1000).toFixed(1).padStart(10)}  ${other}`);
  }
  if (VERBOSE) {
    for (const row of rows.filter((r) => r.notes.length)) console.log(`\n${row.fault} ${row.version} ${row.direction}:\n  ${row.notes.join("\n  ")}`);
  }
  const total = rows.reduce((n, r) => n + r.runs, 0);
  const done = rows.reduce((n, r) => n + r.completed, 0);
  console.log(`\n${done} of ${total} sign-ins completed in ${((performance.now() - started) / 60_000).toFixed(1)} min`);
  process.exitCode = done === total ? 0 : 1;
} finally {
  await stack.close();
  setTimeout(() => process.exit(), 1_000).unref();
}
