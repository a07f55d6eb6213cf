// `qr-login new-device`: the MSC4108 new device, headless. Without --scan it shows a QR (intent login,
// on the given rendezvous server) and asks for the check code shown on the existing device; with
// --scan HEX it scans the existing device's QR (intent reciprocate) and shows the check code.
// Both versions: a scanned QR says its own (MSC4108 2024: type 0x02; 2025: type 0x03); a shown one
// speaks what the rendezvous server offers (--protocol auto), or the version forced. --homeserver pins
// the homeserver the user expects: what the other device names must agree with it.
// Then it signs in with the OAuth device grant, asks "Signed in as @x — continue?", imports the
// secrets and reports the verified state. stdout: one JSON summary line; stderr: everything else.
import { parseCommandArgs, parseProtocol, UsageError } from "./args.js";
import { ask, finishRole, hexToBytes, interruptFlow, LineQueue, say, showEvent, summarise } from "./role-io.js";
import type { FlowEvent } from "../login/flows/ports.js";

export const summary = "new-device --rendezvous URL [--scan HEX]: sign this device in with a QR code (MSC4108), headless";

const USAGE = [
  "usage: qr-login new-device --rendezvous URL [--homeserver URL] [--protocol V] [--profile P] [--unstable-scopes] [--client-id ID] [--yes]",
  "       qr-login new-device --scan HEX [--homeserver URL] [--protocol V] [--profile P] [--unstable-scopes] [--client-id ID] [--yes]",
  "",
  "  --rendezvous URL    rendezvous server for the QR this device shows (intent login); default: --homeserver",
  "  --scan HEX          the existing device's QR payload (intent reciprocate) instead of showing one",
  "  --homeserver URL    the homeserver to sign in to: what the other device names must agree with it",
  "                      (needed when it names a server name that .well-known cannot resolve, as `localhost`)",
  "  --protocol V        2025, 2024 (MSC4108 2024: what Element's shipped clients speak) or auto (default:",
  "                      a scanned QR decides; a shown QR uses 2025 where the rendezvous server offers it)",
  "  --profile P         wire profile of the 2025 version: element-2026 (default) or msc4388",
  "  --unstable-scopes   request urn:matrix:org.matrix.msc2967.client:* scopes",
  "  --client-id ID      a registered OAuth client id instead of dynamic client registration",
  "  --yes               do not ask \"Signed in as @x — continue?\"",
  "",
  "stdin: the check code (when showing the QR), then y/n for the account question.",
  "stdout: {\"outcome\",\"userId\",\"deviceId\",\"crossSigned\",\"backup\"}; exit 0 only when signed in and verified.",
].join("\n");

const CLIENT_METADATA = { client_name: "qr-login (new device)", client_uri: "https://github.com/matrix-org/matrix-spec-proposals/pull/4108", application_type: "native" as const };

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    rendezvous: { type: "string" }, scan: { type: "string" }, profile: { type: "string" }, "client-id": { type: "string" }, homeserver: { type: "string" }, protocol: { type: "string" },
    "unstable-scopes": { type: "boolean" }, yes: { type: "boolean" }, help: { type: "boolean" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}\n${USAGE}`);
  const homeserver = values.homeserver;
  if (homeserver !== undefined && !/^https?:\/\//.test(homeserver)) throw new UsageError("--homeserver must be an http(s) URL");
  const scanHex = values.scan;
  // Showing a QR without a rendezvous server of its own: on the pinned homeserver.
  const rendezvous = values.rendezvous ?? (scanHex === undefined ? homeserver : undefined);
  if ((rendezvous === undefined) === (scanHex === undefined)) throw new UsageError(`give exactly one of --rendezvous URL or --scan HEX\n${USAGE}`);
  if (rendezvous !== undefined && !/^https?:\/\//.test(rendezvous)) throw new UsageError("--rendezvous must be an http(s) URL");
  const protocol = parseProtocol(values.protocol);
  const scanned = scanHex !== undefined ? hexToBytes(scanHex, "--scan") : undefined;
  const profile = values.profile;
  const clientId = values["client-id"];
  const yes = values.yes === true;

  const [{ runNewDevice }, { createSecureChannelPort }, { createNewDeviceMatrixPort }, { createOAuthPort }, { createHomeserverPort }] = await Promise.all([
    import("../login/flows/new-device.js"),
    import("../login/channel/port.js"),
    import("../login/matrix/port.js"),
    import("../login/oauth/port.js"),
    import("../login/matrix/homeserver.js"),
  ]);

  const stdin = new LineQueue(process.stdin);
  const interrupt = interruptFlow();
  let deviceId: string | undefined;
  const onEvent = (e: FlowEvent): void => {
    if (e.type === "device_id") deviceId = e.deviceId;
    if (e.type === "user_code") say(`user code: ${e.userCode}  (confirm it on the other device: ${e.verificationUriComplete ?? e.verificationUri})`);
    showEvent(e, { scanQrOn: "your signed-in device", enterCheckCodeOn: "the other device" });
  };

  const result = await runNewDevice(
    {
      channel: createSecureChannelPort(profile ? { profile } : {}),
      homeserver: createHomeserverPort(homeserver ? { pinned: homeserver } : {}),
      oauth: createOAuthPort({ clientMetadata: CLIENT_METADATA }),
      matrix: createNewDeviceMatrixPort(),
      ui: {
        enterCheckCode: (signal) => ask(stdin, "enter the two-digit check code shown on the other device:", "the check code", signal),
        confirmAccount: async (userId, signal) => {
          if (yes) return true;
          say(`Signed in as ${userId} — continue? [y/N]`);
          const line = await stdin.next(signal);
          return line !== undefined && /^y(es)?$/i.test(line);
        },
      },
    },
    {
      mode: scanned ? { kind: "scan", qr: scanned } : { kind: "generate", rendezvousUrl: rendezvous! },
      ...(clientId ? { clientId } : {}),
      scopes: values["unstable-scopes"] ? "unstable" : "stable",
      skipAccountConfirmation: yes,
      protocol,
      // Nobody scanned before the session expired: show a fresh QR (printed again) a few times.
      qrRotations: 3,
    },
    { signal: interrupt.signal, onEvent },
  );
  interrupt.dispose();
  result.signedIn?.client.stopClient();
  const s = summarise(result.outcome, deviceId ? { deviceId } : {});
  return finishRole(s, s.outcome === "success" && s.crossSigned ? 0 : 1);
}
