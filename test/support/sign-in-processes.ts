// One whole MSC4108 sign-in between our two CLI roles as separate processes, and this module the user
// between them. existing_scans: `qr-login new-device --rendezvous URL` shows the QR, `qr-login
// existing-device --session FILE --scan HEX` scans it; new_scans: `qr-login existing-device --generate`
// shows it (on the homeserver of its session file, here a router whose rendezvous paths go through the
// fault), `qr-login new-device --scan HEX` scans it. The user's part is played as in
// test/integration/cli-roles.test.ts: the QR, the check code and the verification URI read from stderr,
// the check code and the "continue?" answer typed into stdin, the device approved on the development
// homeserver's consent pages. Used by
// `npm run faults -- --processes`, so the fault figures cover the CLI's own I/O, exits and timers too.
//
// The fault rigs inject their fault at flow events (test/support/fault-rigs.ts). A process has none to
// give, but the roles print every state change and the check code on stderr: test/support/role-lines.ts
// turns those lines back into the events they came from, so a rig arms the same way in both modes (a few
// milliseconds later than in one process: the line still has to cross the pipe).
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startDevhome } from "../../server/devhome/index.js";
import { seedDemoAccount } from "../../main/devstack/seed.js";
import { driveDevConsent } from "../../main/devstack/dev-consent.js";
import { readAccountSessionFile, writeAccountSessionFile } from "../../main/login/account/account-session.js";
import type { DeviceRole as Role } from "../../contract/flow.js";
import type { FlowEvent, ProtocolVersion } from "../../main/login/flows/ports.js";
import { eventOfLine } from "./role-lines.js";
import type { Direction } from "./sign-in-pair.js";

/** The repository root: where bin/qr-login.js is (this file may run bundled from dist/run/). */
function repoRoot(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "bin", "qr-login.js"))) return dir;
    if (path.dirname(dir) === dir) throw new Error("bin/qr-login.js not found above this module");
  }
}

export interface CliAccount {
  /** The development homeserver's base URL. */
  readonly homeserverUrl: string;
  /** The seeded existing device's account session (existing-device --session). */
  readonly sessionFile: string;
  readonly username: string;
  readonly password: string;
  readonly userId: string;
  /** A copy of the session that talks to the homeserver at `homeserverUrl` (a router in front of this one). */
  sessionOn(homeserverUrl: string): string;
  /** Where the roles keep any files of their own (XDG dirs), removed by close(). */
  readonly dir: string;
  readonly root: string;
  close(): Promise<void>;
}

/**
 * A development homeserver in this process with the demo account seeded as a session file, and the CLI
 * built from the current sources (the roles run dist/, which must not lag behind the tree measured).
 */
export async function startCliAccount(): Promise<CliAccount> {
  const root = repoRoot();
  const build = spawnSync(process.execPath, [path.join(root, "scripts/build.mjs")], { cwd: root, encoding: "utf8" });
  if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stderr}`);
  const dir = mkdtempSync(path.join(os.tmpdir(), "qrl-cli-faults-"));
  const devhome = await startDevhome({ port: 0, seed: true, deviceInterval: 1 }).catch((err: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  const close = async (): Promise<void> => {
    await devhome.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const demo = devhome.demo!;
    const sessionFile = path.join(dir, "existing-device.json");
    await seedDemoAccount({ auth: devhome.auth, baseUrl: devhome.baseUrl, userId: demo.userId, outFile: sessionFile });
    const copies = new Map<string, string>();
    const sessionOn = (homeserverUrl: string): string => {
      let file = copies.get(homeserverUrl);
      if (!file) {
        file = path.join(dir, `existing-device-${copies.size + 1}.json`);
        writeAccountSessionFile(file, { ...readAccountSessionFile(sessionFile), homeserverUrl: new URL(homeserverUrl).href });
        copies.set(homeserverUrl, file);
      }
      return file;
    };
    return { homeserverUrl: devhome.baseUrl, sessionFile, sessionOn, username: demo.localpart, password: demo.password, userId: demo.userId, dir, root, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The last line of a role's stdout: its JSON summary (main/cli/role-io.ts Summary). */
export interface RoleSummary {
  readonly outcome: string;
  readonly userId?: string;
  readonly deviceId?: string;
  readonly crossSigned: boolean;
  readonly backup: boolean;
  readonly reason?: string;
  readonly side?: string;
  readonly detail?: string;
}

export interface RoleExit {
  /** Exit code; null when killed (at the timeout) or never started. */
  readonly code: number | null;
  readonly summary?: RoleSummary;
  readonly started: boolean;
  /** The last stderr lines, for a failed run's note. */
  readonly tail: readonly string[];
}

export interface ProcessesRun {
  readonly newDevice: RoleExit;
  readonly existingDevice: RoleExit;
  readonly ms: number;
  readonly timedOut: boolean;
  /** A consent page that did not approve the device, if one failed. */
  readonly consentError?: string;
  /** Both processes exited 0 and the new device reports itself signed in, cross-signed, with the backup. */
  readonly verified: boolean;
}

export interface ProcessesOptions {
  readonly version: ProtocolVersion;
  readonly direction: Direction;
  /**
   * existing_scans: where the new device creates the rendezvous session (its QR names it). new_scans:
   * the homeserver the existing device's session is on, whose rendezvous paths it creates the session
   * on (the existing device has no other choice; a 2025 QR names this URL as the homeserver).
   */
  readonly rendezvousUrl: string;
  /** Every flow event either role prints, as its line arrives (a fault rig injects its fault here). */
  readonly onEvent?: (role: Role, event: FlowEvent) => void;
  /** Both processes are killed after this long (default 90 s). */
  readonly timeoutMs?: number;
}

interface Child {
  readonly proc: ChildProcessWithoutNullStreams;
  readonly exited: Promise<RoleExit>;
  type(line: string): void;
  kill(): void;
}

function startRole(account: CliAccount, args: string[], onLine: (line: string) => void): Child {
  const proc = spawn(process.execPath, [path.join(account.root, "bin/qr-login.js"), ...args], {
    cwd: account.root,
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, NODE_OPTIONS: "", XDG_CONFIG_HOME: account.dir, XDG_DATA_HOME: account.dir, XDG_CACHE_HOME: account.dir },
  });
  let out = "";
  let partial = "";
  const tail: string[] = [];
  proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr.on("data", (d: Buffer) => {
    const lines = (partial + d.toString()).split("\n");
    partial = lines.pop()!;
    for (const line of lines) {
      tail.push(line);
      if (tail.length > 8) tail.shift();
      onLine(line);
    }
  });
  // A role that exits before reading its stdin would otherwise throw EPIPE here.
  proc.stdin.on("error", () => undefined);
  const exited = new Promise<RoleExit>((resolve) =>
    proc.on("close", (code) => {
      let summary: RoleSummary | undefined;
      try {
        summary = JSON.parse(out.trim().split("\n").pop() ?? "") as RoleSummary;
      } catch {
        summary = undefined;
      }
      resolve({ code, started: true, tail, ...(summary ? { summary } : {}) });
    }),
  );
  return {
    proc,
    exited,
    type: (line) => {
      if (proc.exitCode === null && proc.stdin.writable) proc.stdin.write(`${line}\n`);
    },
    kill: () => {
      if (proc.exitCode === null && proc.signalCode === null && proc.pid !== undefined) process.kill(proc.pid, "SIGKILL");
    },
  };
}

const NOT_STARTED: RoleExit = { code: null, started: false, tail: [] };
const other = (role: Role): Role => (role === "new" ? "existing" : "new");

export async function signInProcesses(account: CliAccount, o: ProcessesOptions): Promise<ProcessesRun> {
  const started = performance.now();
  const consents: Promise<void>[] = [];
  let consentError: string | undefined;
  let timedOut = false;
  const shows: Role = o.direction === "existing_scans" ? "new" : "existing";
  // The scanning side: its command line once the QR is known. A scanned 2024 QR names the server name
  // (`localhost`), so the new device is told the homeserver the existing device's session is on.
  const scannerArgs = (hex: string): string[] => shows === "new"
    ? ["existing-device", "--session", account.sessionFile, "--scan", hex]
    : ["new-device", "--scan", hex, "--homeserver", o.rendezvousUrl];
  const roles: Partial<Record<Role, Child>> = {};

  const onLine = (role: Role) => (line: string): void => {
    const qr = /^QR: ([0-9a-f]+)$/.exec(line);
    if (qr && role === shows && !roles[other(role)]) roles[other(role)] = startRole(account, scannerArgs(qr[1]!), onLine(other(role)));
    const code = /^check code: (\d\d)\b/.exec(line);
    if (code) roles[other(role)]?.type(code[1]!);
    const uri = /^verification URI: (\S+)/.exec(line);
    if (uri && role === "existing") {
      consents.push(driveDevConsent(uri[1]!, { username: account.username, password: account.password }).catch((err: unknown) => {
        consentError = err instanceof Error ? err.message : String(err);
      }));
    }
    const asked = /^Signed in as (@\S+) — continue\? \[y\/N\]/.exec(line);
    if (asked && role === "new") roles.new?.type(asked[1] === account.userId ? "y" : "n");
    const e = eventOfLine(line);
    if (e) o.onEvent?.(role, e);
  };
  const shower = startRole(
    account,
    shows === "new"
      ? ["new-device", "--rendezvous", o.rendezvousUrl, "--homeserver", account.homeserverUrl, "--protocol", o.version]
      : ["existing-device", "--session", account.sessionOn(o.rendezvousUrl), "--generate", "--protocol", o.version],
    onLine(shows),
  );
  roles[shows] = shower;

  const killAll = (): void => {
    for (const c of Object.values(roles)) c.kill();
  };
  const timer = setTimeout(() => {
    timedOut = true;
    killAll();
  }, o.timeoutMs ?? 90_000);
  try {
    const first = await shower.exited;
    // The scanner starts on the QR line, before the shower can have closed its stderr.
    const second = (await roles[other(shows)]?.exited) ?? NOT_STARTED;
    await Promise.all(consents);
    const [n, e] = shows === "new" ? [first, second] : [second, first];
    const s = n.summary;
    const verified = n.code === 0 && e.code === 0 && s?.outcome === "success" && s.crossSigned && s.backup;
    return { newDevice: n, existingDevice: e, ms: performance.now() - started, timedOut, verified, ...(consentError ? { consentError } : {}) };
  } finally {
    clearTimeout(timer);
    killAll();
  }
}

/** One role's end, for the table: its summary's outcome with reason and side, and an unexpected exit. */
export function describeRole(r: RoleExit, timedOut: boolean): string {
  if (!r.started) return "not started";
  const s = r.summary;
  if (!s) return r.code === null ? (timedOut ? "killed at the timeout" : "killed") : `no summary (exit ${r.code})`;
  const why = [s.reason, s.side].filter((x) => x !== undefined).join(", ");
  let text = why ? `${s.outcome} (${why})` : s.outcome;
  if (s.outcome === "success" && !s.crossSigned) text += " (not cross-signed)";
  else if (s.outcome === "success" && !s.backup) text += " (no backup)";
  if ((s.outcome === "success") !== (r.code === 0)) text += `, exit ${r.code ?? "killed"}`;
  return text;
}
