// `qr-login devstack`: the development homeserver — OAuth 2.0 authorization server, the Client-Server API
// the sign-in flow uses, and the rendezvous server — on one origin, for trying Sign in with QR on one machine.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseMode } from "../../server/rendezvous/plugin.js";
import { startDevhome } from "../../server/devhome/index.js";
import type { RunningDevhome } from "../../server/devhome/index.js";
import { EXISTING_DEVICE_FILE, seedDemoAccount } from "../devstack/seed.js";
import type { AccountSession } from "../login/account/account-session.js";
import { parseCommandArgs, UsageError } from "./args.js";
import { nextStopSignal } from "./stop-signals.js";

export const summary = "run the development homeserver (OAuth 2.0 + Client-Server API + rendezvous) on one origin";

const HELP = `usage: qr-login devstack [options]

Runs a local, strict stand-in for Synapse + MAS on one origin:
  /_matrix/client/...                 the Client-Server API the sign-in flow uses
  /_matrix/client/v1/auth_metadata    OAuth 2.0 metadata (device grant, DCR, PKCE)
  /oauth2/...                         the authorization server (login and consent pages)
  /_matrix/client/v1/rendezvous       the MSC4388 rendezvous server

options:
  --port N                   default 8008 (0 = any free port)
  --host HOST                default 127.0.0.1
  --data DIR                 SQLite data directory (default $XDG_DATA_HOME/qr-login/devstack,
                             or ~/.local/share/qr-login/devstack)
  --memory                   keep everything in memory (nothing written to disk)
  --seed                     create the demo account @alice:<server name> (password printed once) and its
                             signed-in existing device with cross-signing and key backup (real
                             matrix-js-sdk client); its credentials and private keys go to
                             <data dir>/existing-device.json (mode 0600; a temporary directory with --memory)
  --mas-quirks               answer like MAS: 403 for pending/denied/expired, no slow_down,
                             no verification_uri_complete
  --rendezvous-mode MODE     open (default) | authenticated | off
  --server-name NAME         Matrix server name (default localhost)`;

function defaultDataDir(): string {
  const base = process.env.XDG_DATA_HOME || path.join(os.homedir(), ".local", "share");
  return path.join(base, "qr-login", "devstack");
}

function parsePort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new UsageError(`--port must be 0..65535, got "${value}"`);
  return Number(value);
}

export function describe(
  dh: RunningDevhome,
  o: { dataDir?: string; masQuirks: boolean; rendezvousMode: string; existing?: { file: string; device: AccountSession } },
): string {
  const lines = [
    `qr-login development homeserver listening on ${dh.baseUrl}`,
    `  homeserver base URL   ${dh.baseUrl}   (server name ${dh.serverName})`,
    `  OAuth 2.0 metadata    ${dh.baseUrl}_matrix/client/v1/auth_metadata${o.masQuirks ? "   (MAS quirks on)" : ""}`,
    `  rendezvous            ${dh.baseUrl}_matrix/client/v1/rendezvous   (mode ${o.rendezvousMode})`,
    `  data                  ${o.dataDir ?? "in memory (lost on exit)"}`,
  ];
  if (dh.demo) {
    lines.push("", "Demo account (the password is shown only now):", `  user      ${dh.demo.userId}`, `  password  ${dh.demo.password}`);
    if (o.existing) {
      lines.push(
        `  existing device ${o.existing.device.deviceId}: cross-signed, with key backup; credentials and private keys in`,
        `    ${o.existing.file}   (mode 0600: it holds a token and private keys)`,
      );
    }
  } else {
    lines.push("", "No demo account was created: run with --seed to create @alice and her signed-in device.");
  }
  lines.push(
    "",
    "Next:",
    "  1. Start the new device and show its QR code, pointing it at the homeserver above.",
    "  2. Scan it with the existing device (the seeded demo device) and compare the check code.",
    `  3. Approve the sign-in in the browser page the existing device opens (sign in as ${dh.demo?.userId ?? "your user"}).`,
    "Press Ctrl+C to stop.",
  );
  return lines.join("\n");
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    port: { type: "string" }, host: { type: "string" }, data: { type: "string" }, "rendezvous-mode": { type: "string" }, "server-name": { type: "string" },
    memory: { type: "boolean" }, seed: { type: "boolean" }, "mas-quirks": { type: "boolean" }, help: { type: "boolean" },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (values.memory && values.data !== undefined) throw new UsageError("--memory and --data exclude each other");
  let rendezvousMode;
  try {
    rendezvousMode = parseMode(values["rendezvous-mode"] ?? "open");
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const serverName = values["server-name"] ?? "localhost";
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(serverName)) throw new UsageError(`invalid --server-name "${serverName}"`);
  const dataDir = values.memory ? undefined : (values.data ?? defaultDataDir());
  const masQuirks = values["mas-quirks"] === true;

  const dh = await startDevhome({
    host: values.host ?? "127.0.0.1",
    port: parsePort(values.port ?? "8008"),
    ...(dataDir ? { dataDir } : {}),
    seed: values.seed === true,
    masQuirks,
    rendezvousMode,
    serverName,
  });
  // With --memory the existing device's file lives in a temporary directory removed at exit.
  const seedDir = dh.demo ? (dataDir ?? mkdtempSync(path.join(os.tmpdir(), "qr-login-devstack-"))) : undefined;
  const cleanup = () => {
    if (seedDir && !dataDir) rmSync(seedDir, { recursive: true, force: true });
  };
  let existing: { file: string; device: AccountSession } | undefined;
  if (dh.demo && seedDir) {
    const file = path.join(seedDir, EXISTING_DEVICE_FILE);
    try {
      const device = await seedDemoAccount({
        auth: dh.auth, baseUrl: dh.baseUrl, userId: dh.demo.userId, outFile: file,
        allowCrossSigningReset: (userId) => dh.cs.allowCrossSigningReset(userId),
      });
      existing = { file, device };
    } catch (err) {
      console.error(`qr-login devstack: seeding failed: ${(err as Error).message}${(err as Error).cause ? ` (${String((err as Error).cause)})` : ""}`);
      await dh.close();
      cleanup();
      return 1;
    }
  }
  console.log(describe(dh, { ...(dataDir ? { dataDir } : {}), masQuirks, rendezvousMode, ...(existing ? { existing } : {}) }));

  console.log(`${await nextStopSignal()}: shutting down`);
  await dh.close().catch((err: unknown) => console.error(`shutdown failed: ${(err as Error).message}`));
  cleanup();
  return 0;
}
