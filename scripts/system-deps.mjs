// The programs the tests start that npm cannot install: redis-server (the Redis store), nginx (the
// rendezvous APIs behind a reverse proxy) and Chromium (the UI tests, driven by playwright-core).
// `npm test` runs this first. On a fresh Debian or Ubuntu machine it installs what is missing where the
// user may — root, or sudo without a password, as `playwright install --with-deps` does — and says so in
// one line; where the user may not, it stops before anything runs with one line naming the command to
// run. With everything there it prints nothing. The test helpers find the programs through the same
// functions (test/support/system-programs.ts), so what this checks is what the tests start.
//
// Plain Node, no dependencies: it runs before anything else, on whichever Node runs `npm test`.
import { spawnSync } from "node:child_process";
import { accessSync, constants, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PREFIX = "npm test:";

/**
 * What the tests need. `program` is looked up on PATH (Chromium: see findChromium); `apt` is the
 * Debian/Ubuntu package, `brew` the Homebrew formula. Chromium on Ubuntu is a snap that cannot be
 * driven from a temporary profile (nor installed in a container), so there it is Playwright's build.
 */
export const NEEDS = [
  { program: "redis-server", apt: "redis-server", brew: "redis" },
  { program: "nginx", apt: "nginx", brew: "nginx" },
  { program: "chromium", apt: "chromium", playwright: "chromium" },
  // the doctor's TLS tests make their certificates with it (usually there already)
  { program: "openssl", apt: "openssl", brew: "openssl" },
];

// Debian installs nginx in /usr/sbin, which is not on a normal user's PATH there.
const SBIN = ["/usr/local/sbin", "/usr/sbin", "/sbin"];
export const DEBIAN_CHROMIUM = "/usr/bin/chromium";

function isExecutableFile(file) {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Full path of a program on PATH or in the sbin folders, or null. */
export function findProgram(name, env = process.env) {
  const dirs = [...(env.PATH ?? "").split(path.delimiter).filter(Boolean), ...SBIN];
  for (const dir of dirs) {
    const file = path.join(dir, name);
    if (isExecutableFile(file)) return file;
  }
  return null;
}

/** Playwright's own Chromium build for the installed playwright-core, where it has been downloaded. */
function playwrightChromium() {
  try {
    const { chromium } = createRequire(path.join(root, "package.json"))("playwright-core");
    const file = chromium.executablePath();
    return isExecutableFile(file) ? file : null;
  } catch {
    return null;
  }
}

/**
 * The Chromium the UI tests launch: QR_LOGIN_CHROMIUM if set (then only that), else Debian's
 * /usr/bin/chromium, else Playwright's build; null if none is there.
 */
export function findChromium(env = process.env) {
  if (env.QR_LOGIN_CHROMIUM) return isExecutableFile(env.QR_LOGIN_CHROMIUM) ? env.QR_LOGIN_CHROMIUM : null;
  if (isExecutableFile(DEBIAN_CHROMIUM)) return DEBIAN_CHROMIUM;
  return playwrightChromium();
}

function find(need, env) {
  return need.program === "chromium" ? findChromium(env) : findProgram(need.program, env);
}

/** "debian", "ubuntu", "macos" or "other", from /etc/os-release (ID, then ID_LIKE). */
export function systemKind(platform = process.platform, osRelease = "/etc/os-release") {
  if (platform === "darwin") return "macos";
  if (platform !== "linux") return "other";
  let text = "";
  try {
    text = readFileSync(osRelease, "utf8");
  } catch {
    return "other";
  }
  const field = (key) => (new RegExp(`^${key}=["']?([^"'\\n]*)`, "m").exec(text)?.[1] ?? "").toLowerCase().split(/\s+/);
  const ids = [...field("ID"), ...field("ID_LIKE")];
  // Ubuntu first: its derivatives say ID_LIKE="ubuntu debian", and their Chromium is Ubuntu's snap.
  if (ids.includes("ubuntu")) return "ubuntu";
  if (ids.includes("debian")) return "debian";
  return "other";
}

function list(items) {
  return items.join(", ");
}

/** How this system gets the missing programs: the commands to run, as argv lists. */
function plan(missing, kind) {
  const viaApt = missing.filter((n) => !(kind === "ubuntu" && n.playwright)).map((n) => n.apt);
  const viaPlaywright = kind === "ubuntu" ? missing.filter((n) => n.playwright).map((n) => n.playwright) : [];
  return { viaApt, viaPlaywright };
}

function shellLine(argv) {
  return argv.join(" ");
}

function aptArgv(packages) {
  return ["apt-get", "install", "-y", "-qq", "--no-install-recommends", ...packages];
}

function playwrightArgv(browsers, withDeps) {
  return ["npx", "playwright-core", "install", ...(withDeps ? ["--with-deps"] : []), "--no-shell", ...browsers];
}

/** The command a user who must install them runs, for this system; null where we know none. */
function commandFor(missing, kind, uid) {
  if (kind === "debian" || kind === "ubuntu") {
    const { viaApt, viaPlaywright } = plan(missing, kind);
    return [
      ...(viaApt.length ? [shellLine([...(uid === 0 ? [] : ["sudo"]), "apt-get", "install", ...viaApt])] : []),
      ...(viaPlaywright.length ? [shellLine(playwrightArgv(viaPlaywright, true))] : []),
    ].join(" && ");
  }
  if (kind === "macos") {
    const formulas = missing.filter((n) => n.brew).map((n) => n.brew);
    const browsers = missing.filter((n) => n.playwright).map((n) => n.playwright);
    return [...(formulas.length ? [`brew install ${formulas.join(" ")}`] : []), ...(browsers.length ? [shellLine(playwrightArgv(browsers, false))] : [])].join(" && ");
  }
  return null;
}

/** The one line for a user who must install them. */
function instruction(missing, kind, uid) {
  const need = `${PREFIX} the tests need ${list(missing.map((n) => n.program))}, not installed here`;
  const command = commandFor(missing, kind, uid);
  if (command) return `${need}; run: ${command}`;
  return `${need}; this script installs them only on Debian and Ubuntu: install them with your package manager (Chromium: any build, named by QR_LOGIN_CHROMIUM)`;
}

/** Root runs apt-get itself; anyone else through sudo, if sudo works without a password. */
function privilege(uid, env) {
  if (uid === 0) return [];
  if (!findProgram("sudo", env)) return null;
  const probe = spawnSync("sudo", ["-n", "true"], { env, stdio: "ignore" });
  return probe.status === 0 ? ["sudo", "-n"] : null;
}

function run(argv, env) {
  const [cmd, ...args] = argv;
  // Output only on failure: the user sees one line when all goes well.
  const r = spawnSync(cmd, args, { env, cwd: root, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  return { ok: r.status === 0, output: `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? r.error.message : ""}`.trim() };
}

/**
 * Checks, and installs what is missing where it may. Returns the exit code. Everything it depends on
 * can be given, so the tests can run each branch: the environment (PATH finds apt-get, sudo and the
 * programs), the uid, the platform, the os-release file, the list of needs, and playwright-core's CLI.
 */
export function main({
  env = process.env,
  uid = process.getuid?.() ?? -1,
  platform = process.platform,
  osRelease = "/etc/os-release",
  needs = NEEDS,
  playwrightCli = path.join(root, "node_modules", "playwright-core", "cli.js"),
  out = (line) => console.log(line),
  err = (line) => console.error(line),
} = {}) {
  const missing = needs.filter((n) => !find(n, env));
  if (missing.length === 0) return 0;

  const kind = systemKind(platform, osRelease);
  const elevate = kind === "debian" || kind === "ubuntu" ? privilege(uid, env) : null;
  if (!elevate || !findProgram("apt-get", env)) {
    err(instruction(missing, kind, uid));
    return 1;
  }

  const { viaApt, viaPlaywright } = plan(missing, kind);
  const how = [
    ...(viaApt.length ? [`${list(viaApt)} with ${elevate.length ? "sudo " : ""}apt-get`] : []),
    ...(viaPlaywright.length ? [`Chromium with playwright-core`] : []),
  ];
  out(`${PREFIX} installing ${how.join(" and ")} (programs the tests start)`);

  const aptEnv = ["env", "DEBIAN_FRONTEND=noninteractive"];
  const steps = [
    ...(viaApt.length ? [[...elevate, ...aptEnv, "apt-get", "update", "-qq"], [...elevate, ...aptEnv, ...aptArgv(viaApt)]] : []),
    // Playwright installs the browser for this user and its libraries with sudo itself.
    ...(viaPlaywright.length ? [[process.execPath, playwrightCli, "install", "--with-deps", "--no-shell", ...viaPlaywright]] : []),
  ];
  for (const step of steps) {
    const r = run(step, env);
    if (!r.ok) {
      if (r.output) err(r.output);
      err(`${PREFIX} \`${shellLine(step)}\` failed (above); after fixing that, run: ${commandFor(missing, kind, uid)}`);
      return 1;
    }
  }

  const still = missing.filter((n) => !find(n, env));
  if (still.length) {
    err(`${PREFIX} installed, but cannot find ${list(still.map((n) => n.program))} on PATH or in ${SBIN.join(", ")}`);
    return 1;
  }
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main();
}
