// `qr-login demo [--reverse]`: the whole sign-in in one terminal, on the development stack only.
// Starts the development homeserver (rendezvous on the same origin) with the seeded demo account and
// its signed-in, cross-signed existing device, then runs both MSC4108 roles in this process over
// real HTTP: by default the headline direction (the new device shows the QR, the existing device
// scans it), with --reverse the other one; --protocol 2024 runs both on the MSC4108 2024 version
// (what Element's shipped clients speak). The consent step is driven through the development
// homeserver's pages as the demo account. Every step is printed with its time since the start; the
// last line is the JSON summary {"outcome","userId","deviceId","crossSigned","backup",...,"protocol"}.
// The stack's server name is `localhost`, which .well-known cannot resolve: the new device is pinned
// to the stack's URL (as `new-device --homeserver` would be).

import { parseCommandArgs, parseProtocol, UsageError } from "./args.js";
import type { FlowEvent, FlowOutcome } from "../login/flows/ports.js";

export const summary = "demo [--reverse] [--deny] [--protocol V]: both sign-in roles against a local development stack, step by step";

const USAGE = "usage: qr-login demo [--reverse] [--deny] [--port N] [--protocol 2024|2025|auto] [--profile element-2026|msc4388]";

const CLIENT_METADATA = { client_name: "qr-login demo (new device)", client_uri: "https://github.com/matrix-org/matrix-spec-proposals/pull/4108", application_type: "native" as const };

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    port: { type: "string" }, profile: { type: "string" }, protocol: { type: "string" },
    reverse: { type: "boolean" }, deny: { type: "boolean" }, help: { type: "boolean" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}\n${USAGE}`);
  const port = values.port !== undefined ? Number(values.port) : 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError("--port must be a port number");
  const reverse = values.reverse === true;
  const deny = values.deny === true;
  const profile = values.profile;
  const protocol = parseProtocol(values.protocol);

  const [{ startDevStack }, { runNewDevice }, { runExistingDevice }, { createSecureChannelPort }, { createNewDeviceMatrixPort }, { createOAuthPort }, { driveDevConsent }, { createHomeserverPort }] = await Promise.all([
    import("../devstack/stack.js"),
    import("../login/flows/new-device.js"),
    import("../login/flows/existing-device.js"),
    import("../login/channel/port.js"),
    import("../login/matrix/port.js"),
    import("../login/oauth/port.js"),
    import("../devstack/dev-consent.js"),
    import("../login/matrix/homeserver.js"),
  ]);

  const t0 = performance.now();
  const log = (line: string): void => {
    process.stdout.write(`[${(performance.now() - t0).toFixed(0).padStart(6)} ms] ${line}\n`);
  };
  log("starting the development stack");
  const stack = await startDevStack({ port });
  log(`development homeserver and rendezvous server on ${stack.baseUrl} (demo account ${stack.account.userId})`);

  const events: Record<"new" | "existing", FlowEvent[]> = { new: [], existing: [] };
  const waiters: Array<() => void> = [];
  const onEvent = (side: "new" | "existing") => (e: FlowEvent): void => {
    events[side].push(e);
    for (const w of waiters.splice(0)) w();
    log(`${side === "new" ? "new     " : "existing"}  ${describe(e)}`);
  };
  const next = async <T extends FlowEvent["type"]>(side: "new" | "existing", type: T): Promise<Extract<FlowEvent, { type: T }>> => {
    for (;;) {
      const e = events[side].find((x) => x.type === type);
      if (e) return e as Extract<FlowEvent, { type: T }>;
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  const hexBytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, "hex"));

  const channel = createSecureChannelPort(profile ? { profile } : {});
  const localpart = stack.account.userId.slice(1, stack.account.userId.indexOf(":"));
  let consent: Promise<void> = Promise.resolve();

  const existing = (qr?: Uint8Array): Promise<FlowOutcome> =>
    runExistingDevice(
      {
        channel,
        oauth: createOAuthPort({ clientMetadata: CLIENT_METADATA }),
        matrix: stack.account.matrix,
        ui: {
          scanQr: async () => hexBytes((await next("new", "qr")).hex),
          enterCheckCode: async () => {
            const code = (await next("new", "check_code")).code;
            log(`existing  user types check code ${code}`);
            return code;
          },
          openUri: async (uri) => {
            log(`existing  browser: ${deny ? "denying" : "approving"} as ${localpart} on ${new URL(uri).origin}`);
            consent = driveDevConsent(uri, { username: localpart, password: stack.password }, deny ? "deny" : "approve")
              .then(() => log(`existing  browser: consent ${deny ? "denied" : "given"}`))
              .catch((err: unknown) => log(`existing  browser: consent failed: ${err instanceof Error ? err.message : String(err)}`));
            return "opened";
          },
        },
      },
      { mode: reverse ? { kind: "generate", rendezvousUrl: stack.baseUrl } : { kind: "scan", ...(qr ? { qr } : {}) }, protocol },
      { onEvent: onEvent("existing") },
    );

  const newDevice = (mode: { kind: "generate"; rendezvousUrl: string } | { kind: "scan"; qr: Uint8Array }) =>
    runNewDevice(
      {
        channel,
        homeserver: createHomeserverPort({ pinned: stack.baseUrl }),
        oauth: createOAuthPort({ clientMetadata: CLIENT_METADATA }),
        matrix: createNewDeviceMatrixPort(),
        ui: {
          enterCheckCode: async () => {
            const code = (await next("existing", "check_code")).code;
            log(`new       user types check code ${code}`);
            return code;
          },
          confirmAccount: async (userId) => userId === stack.account.userId,
        },
      },
      { mode, protocol },
      { onEvent: onEvent("new") },
    );

  let exit = 1;
  try {
    let n: Awaited<ReturnType<typeof newDevice>>;
    let e: FlowOutcome;
    if (!reverse) {
      [n, e] = await Promise.all([newDevice({ kind: "generate", rendezvousUrl: stack.baseUrl }), existing()]);
    } else {
      const existingRun = existing();
      const qr = hexBytes((await next("existing", "qr")).hex);
      n = await newDevice({ kind: "scan", qr });
      e = await existingRun;
    }
    await consent;
    n.signedIn?.client.stopClient();
    const outcome = n.outcome;
    const result = {
      outcome: outcome.outcome,
      ...(outcome.outcome === "success" ? { userId: outcome.userId, deviceId: outcome.deviceId, crossSigned: outcome.crossSigned ?? false, backup: outcome.backup ?? false } : {}),
      direction: reverse ? "new_scans" : "existing_scans",
      protocol: events.new.find((x): x is Extract<FlowEvent, { type: "protocol" }> => x.type === "protocol")?.version ?? null,
      newDevice: outcome,
      existingDevice: e,
      ms: Math.round(performance.now() - t0),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    exit = outcome.outcome === "success" && e.outcome === "success" ? 0 : deny && outcome.outcome === "declined" ? 0 : 1;
  } finally {
    await stack.close();
  }
  // Some timers of the servers and the SDK outlive their close() by a minute or more; a one-shot
  // command should not wait for them. The unref'd timer only fires if something else still holds
  // the process.
  setTimeout(() => process.exit(process.exitCode ?? exit), 1_000).unref();
  return exit;
}

function describe(e: FlowEvent): string {
  switch (e.type) {
    case "state":
      return `→ ${e.state}`;
    case "qr":
      return `QR (${e.hex.length / 2} bytes): ${e.hex}`;
    case "check_code":
      return `check code: ${e.code}`;
    case "check_code_required":
      return "asks for the check code";
    case "homeserver":
      return `homeserver ${e.baseUrl}`;
    case "protocol":
      return `speaks the MSC4108 ${e.version} version`;
    case "device_id":
      return `device id ${e.deviceId}`;
    case "user_code":
      return `user code ${e.userCode} (${e.verificationUriComplete ?? e.verificationUri})`;
    case "opening_browser":
      return `opening ${e.uri}`;
    case "waiting_for_consent":
      return "waiting for consent";
    case "confirm_account":
      return `signed in as ${e.userId} — continue? yes`;
    case "transferring_secrets":
      return "secrets";
    case "importing":
      return "importing secrets";
    case "secrets_step":
      return `secrets: ${e.step} ${e.status}`;
    case "verified":
      return `verified: cross-signed ${e.crossSigned}, backup ${e.backup}`;
    case "message_sent":
      return `sent ${e.messageType}`;
    case "message_received":
      return `received ${e.messageType}`;
    case "outcome":
      return `outcome ${JSON.stringify(e.result)}`;
  }
}
