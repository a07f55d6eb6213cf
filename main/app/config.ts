// The app's command line, and which of its two modes it runs in:
//   - account mode (the installed app, or --homeserver): one window that starts on the first-run screen
//     ("Sign in with a QR code" / "Sign in to your account") unless this app is already signed in; its
//     own session is kept with safeStorage;
//   - development mode (`npm start` from a checkout, or --dev): the embedded development stack with the
//     seeded @alice, and the two windows of the pair side by side.
//
//   --dev                             development mode (also in an installed app)
//   --homeserver URL                  account mode; prefills the homeserver field
//   --rendezvous URL                  rendezvous server the new device creates its session on
//   --role new|existing|both          fixed windows (default: both in development mode, one free window otherwise)
//   --profile element-2026|msc4388    wire profile of the 2025 version
//   --protocol 2024|2025|auto         version of sign in with QR (default auto: the QR decides when
//                                     scanning, the servers when showing)
import { parseArgs } from "node:util";
import type { DeviceRole } from "../../contract/flow.js";
import { StartupError } from "./startup-error.js";

export interface AppConfig {
  dev: boolean;
  homeserver: string | null;
  rendezvous: string | null;
  /** Windows with a fixed role, or null: one window whose role the renderer chooses. */
  roles: DeviceRole[] | null;
  profile: string | undefined;
  protocol: "auto" | "2024" | "2025";
}

function httpUrl(flag: string, v: string): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new StartupError("qr-login: wrong command line", `${flag} must be a URL (got ${v}).`, `For example: ${flag} https://matrix.example.org`);
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") throw new StartupError("qr-login: wrong command line", `${flag} must be an http(s) URL (got ${v}).`, `For example: ${flag} https://matrix.example.org`);
  return u.href;
}

export function readConfig(argv: string[], opts: { isPackaged: boolean }): AppConfig {
  // strict: false, so Chromium's and Electron's own switches pass through.
  const { values } = parseArgs({
    args: argv,
    strict: false,
    options: { dev: { type: "boolean" }, homeserver: { type: "string" }, rendezvous: { type: "string" }, role: { type: "string" }, profile: { type: "string" }, protocol: { type: "string" } },
  });
  const str = (v: unknown): string | null => (typeof v === "string" && v.length > 0 ? v : null);
  const homeserver = str(values.homeserver);
  const rendezvous = str(values.rendezvous);
  const dev = values.dev === true || (!opts.isPackaged && homeserver === null);
  const role = str(values.role);
  if (role !== null && !["new", "existing", "both"].includes(role)) {
    throw new StartupError("qr-login: wrong command line", `--role must be new, existing or both (got ${role}).`, "Leave --role out to choose in the window.");
  }
  const profile = str(values.profile);
  if (profile !== null && !["element-2026", "msc4388"].includes(profile)) {
    throw new StartupError("qr-login: wrong command line", `--profile must be element-2026 or msc4388 (got ${profile}).`, "Leave --profile out for the default (element-2026).");
  }
  const protocol = str(values.protocol) ?? "auto";
  if (protocol !== "auto" && protocol !== "2024" && protocol !== "2025") {
    throw new StartupError("qr-login: wrong command line", `--protocol must be 2024, 2025 or auto (got ${protocol}).`, "Leave --protocol out to pick the version automatically.");
  }
  return {
    dev,
    homeserver: homeserver ? httpUrl("--homeserver", homeserver) : null,
    rendezvous: rendezvous ? httpUrl("--rendezvous", rendezvous) : null,
    roles: role === "both" || (role === null && dev) ? ["existing", "new"] : role === null ? null : [role as DeviceRole],
    profile: profile ?? undefined,
    protocol,
  };
}
