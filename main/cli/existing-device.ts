// `qr-login existing-device`: the MSC4108 existing (signed-in) device, headless. It acts as the device
// stored in a session file (--session FILE: the dev stack seed's existing-device.json, or the file
// `--login` writes), and either scans the new device's QR (--scan HEX, or the hex read from stdin) or
// shows one of its own (--generate, intent reciprocate, on its homeserver). It prints the check code
// (or asks for it), prints the verification URI (or opens it with --open), and sends the secrets once
// the new device exists. stdout: one JSON summary line; stderr: everything else. Both versions: a
// scanned QR says its own; a shown one speaks what the homeserver offers (--protocol auto: 2025, else
// the 2024 ETag rendezvous, else 2024 on the --rendezvous fallback server), or the version forced.
//
// `--login --homeserver URL --session FILE` instead signs in through the system browser (OAuth 2.0
// authorization code + PKCE, loopback redirect), unlocks the secrets with the recovery key read from
// stdin, and writes FILE (mode 0600).
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseCommandArgs, parseProtocol, UsageError } from "./args.js";
import { ask, finishRole, hexToBytes, interruptFlow, LineQueue, openInBrowser, say, showEvent, summarise } from "./role-io.js";
import type { MatrixClient } from "matrix-js-sdk";
import type { FlowEvent, FlowOutcome } from "../login/flows/ports.js";

export const summary = "existing-device --session FILE [--scan HEX | --generate]: sign a new device in from this one (MSC4108), headless";

const USAGE = [
  "usage: qr-login existing-device [--session FILE | --homeserver URL] [--scan HEX | --generate] [--protocol V] [--rendezvous URL] [--open] [--profile P]",
  "       qr-login existing-device --login --homeserver URL [--session FILE] [--open]",
  "",
  "  --session FILE   the signed-in device (default: $XDG_CONFIG_HOME/qr-login/session.json)",
  "  --homeserver URL check that the session belongs to this homeserver; with --login, the one to sign in to",
  "  --scan HEX       the new device's QR payload (without --scan or --generate: read the hex from stdin)",
  "  --generate       show a QR (intent reciprocate) for the new device to scan",
  "  --open           open the verification URI in the system browser instead of only printing it",
  "  --protocol V     2025, 2024 (MSC4108 2024: what Element's shipped clients speak) or auto (default:",
  "                   a scanned QR decides; a shown QR uses 2025 where the homeserver offers it)",
  "  --rendezvous URL with --generate: a 2024 rendezvous server for when the homeserver has none",
  "  --profile P      wire profile of the 2025 version: element-2026 (default) or msc4388",
  "  --login          sign in (authorization code + PKCE in the browser, loopback redirect), then unlock",
  "                   the secrets with the recovery key read from stdin, and write the session file (0600)",
  "",
  "stdin: the QR hex (scan without --scan), the check code (with --generate), the recovery key (--login).",
  "stdout: {\"outcome\",\"userId\",\"deviceId\",\"crossSigned\",\"backup\"}; exit 0 only on success.",
].join("\n");

export function defaultSessionFile(): string {
  const base = process.env.XDG_CONFIG_HOME || path.join(os.homedir(), ".config");
  return path.join(base, "qr-login", "session.json");
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    session: { type: "string" }, homeserver: { type: "string" }, scan: { type: "string" }, profile: { type: "string" }, protocol: { type: "string" }, rendezvous: { type: "string" },
    generate: { type: "boolean" }, open: { type: "boolean" }, login: { type: "boolean" }, help: { type: "boolean" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}\n${USAGE}`);
  const sessionFile = values.session ?? defaultSessionFile();
  const homeserver = values.homeserver;
  const open = values.open === true;
  if (values.login) {
    if (!homeserver) throw new UsageError("--login needs --homeserver URL");
    const { runLogin } = await import("./existing-device-login.js");
    return runLogin({ homeserver, sessionFile, open });
  }
  const scanHex = values.scan;
  const generate = values.generate === true;
  if (scanHex !== undefined && generate) throw new UsageError("give only one of --scan HEX or --generate");
  const scanned = scanHex !== undefined ? hexToBytes(scanHex, "--scan") : undefined;
  const profile = values.profile;
  const protocol = parseProtocol(values.protocol);
  const fallbackRendezvous = values.rendezvous;
  if (fallbackRendezvous !== undefined && !/^https?:\/\//.test(fallbackRendezvous)) throw new UsageError("--rendezvous must be an http(s) URL");
  if (fallbackRendezvous !== undefined && !generate) throw new UsageError("--rendezvous is the fallback rendezvous server of --generate");

  const [{ runExistingDevice }, { createSecureChannelPort }, { createExistingDeviceMatrixPort }, { createOAuthPort }, session, { stopClient }] = await Promise.all([
    import("../login/flows/existing-device.js"),
    import("../login/channel/port.js"),
    import("../login/matrix/port.js"),
    import("../login/oauth/port.js"),
    import("../login/account/account-session.js"),
    import("../login/matrix/client.js"),
  ]);

  let stored = session.readAccountSessionFile(sessionFile);
  const fresh = await session.ensureFreshAccountSession(stored);
  if (fresh.refreshed) {
    // Refresh tokens rotate: the old one is spent, so the file must hold the new pair at once.
    stored = fresh.session;
    session.writeAccountSessionFile(sessionFile, stored);
    say("… access token renewed with the refresh token");
  }
  if (homeserver && new URL(homeserver).href.replace(/\/?$/, "/") !== stored.homeserverUrl) {
    throw new UsageError(`${sessionFile} is a session on ${stored.homeserverUrl}, not ${homeserver}`);
  }
  say(`signed in as ${stored.userId} (device ${stored.deviceId}) on ${stored.homeserverUrl}`);
  say("… restoring the session");
  const client = await session.restoreAccountClient(stored);

  const stdin = new LineQueue(process.stdin);
  const interrupt = interruptFlow();
  const onEvent = (e: FlowEvent): void => {
    if (e.type === "user_code") say(`user code: ${e.userCode}`);
    showEvent(e, { scanQrOn: "the new device", enterCheckCodeOn: "the new device" });
  };

  let outcome: FlowOutcome;
  try {
    outcome = await runExistingDevice(
      {
        channel: createSecureChannelPort({ ...(profile ? { profile } : {}), accessToken: stored.accessToken }),
        oauth: createOAuthPort({ clientMetadata: { client_name: "qr-login (existing device)", client_uri: "https://github.com/matrix-org/matrix-spec-proposals/pull/4108", application_type: "native" } }),
        matrix: createExistingDeviceMatrixPort(client),
        ui: {
          scanQr: async (signal) => scanned ?? hexToBytes(await ask(stdin, "paste the QR code's payload as hex:", "a QR code", signal), "QR"),
          enterCheckCode: (signal) => ask(stdin, "enter the two-digit check code shown on the new device:", "the check code", signal),
          openUri: async (uri) => {
            if (open) {
              say(`opening ${uri}`);
              await openInBrowser(uri);
            } else {
              say(`verification URI: ${uri}  (open it in a browser and approve the new device)`);
            }
            return "opened";
          },
        },
      },
      {
        mode: generate ? { kind: "generate", ...(fallbackRendezvous ? { fallbackRendezvousUrl: fallbackRendezvous } : {}) } : { kind: "scan", ...(scanned ? { qr: scanned } : {}) },
        protocol,
      },
      { signal: interrupt.signal, onEvent },
    );
    // This side's view of the result: is the new device signed by our self-signing key (from a fresh
    // /keys/query), and did the secrets we sent include the backup key.
    if (outcome.outcome === "success") {
      const seen = await newDeviceState(client, stored.userId, outcome.deviceId);
      outcome = { ...outcome, crossSigned: seen.crossSigned, backup: seen.backup };
    }
  } finally {
    interrupt.dispose();
    stopClient(client);
  }
  return finishRole(summarise(outcome, { userId: stored.userId }), outcome.outcome === "success" ? 0 : 1);
}

/** Polls (up to `timeoutMs`) until the new device shows up signed by the user's self-signing key. */
async function newDeviceState(client: MatrixClient, userId: string, deviceId: string, timeoutMs = 10_000): Promise<{ crossSigned: boolean; backup: boolean }> {
  const crypto = client.getCrypto()!;
  const bundle = (await crypto.exportSecretsBundle?.()) as { backup?: unknown } | undefined;
  const backup = bundle?.backup !== undefined;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // Forces a /keys/query for the user (as main/login/matrix/secrets.ts verifiedState does).
    await crypto.userHasCrossSigningKeys(userId, true);
    const status = await crypto.getDeviceVerificationStatus(userId, deviceId);
    if (status?.signedByOwner) return { crossSigned: true, backup };
    if (Date.now() >= deadline) return { crossSigned: false, backup };
    await sleep(500);
  }
}
