// The system programs the tests start, found exactly as `npm test`'s first step (scripts/system-deps.mjs)
// checks for them: on PATH or in the sbin folders (Debian installs nginx in /usr/sbin, which is not on a
// normal user's PATH), and Chromium from QR_LOGIN_CHROMIUM, /usr/bin/chromium or Playwright's build.
import { DEBIAN_CHROMIUM, findChromium, findProgram } from "../../scripts/system-deps.mjs";

/** Full path of redis-server, nginx or openssl; the bare name if absent, so the spawn error names it. */
export function systemProgram(name: "redis-server" | "nginx" | "openssl"): string {
  return findProgram(name) ?? name;
}

/** The Chromium for playwright-core's `executablePath`. */
export const CHROMIUM: string = findChromium() ?? DEBIAN_CHROMIUM;
