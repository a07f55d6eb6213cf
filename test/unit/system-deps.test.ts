// scripts/system-deps.mjs, the first step of `npm test`: on a machine without the programs the tests
// start, it installs them where the user may (root, or sudo without a password) and says so in one
// line, or stops with one line naming the command. Each case runs the script in its own process with
// a PATH of stand-ins: an apt-get and a sudo that record how they were called (the stand-in apt-get
// "installs" a package by creating the program of the same name), and a playwright-core CLI.
import { describe, test, expect, afterAll } from "@jest/globals";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { MainOptions } from "../../scripts/system-deps.mjs";
import { NEEDS, systemKind } from "../../scripts/system-deps.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const script = path.join(root, "scripts/system-deps.mjs");
const tmp = mkdtempSync(path.join(tmpdir(), "qr-login-system-deps-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const OS = {
  debian: 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n',
  ubuntu: 'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\nID_LIKE=debian\n',
  mint: 'NAME="Linux Mint"\nID=linuxmint\nID_LIKE="ubuntu debian"\n',
  fedora: 'NAME="Fedora Linux"\nID=fedora\n',
};

// Programs no machine has, so nothing real is found in PATH or the sbin folders.
const A = { program: "qrl-test-redis", apt: "qrl-test-redis", brew: "redis" };
const B = { program: "qrl-test-nginx", apt: "qrl-test-nginx", brew: "nginx" };
const CHROME = { program: "chromium", apt: "chromium", playwright: "chromium" };

interface Machine {
  bin: string;
  log: string;
  /** The Chromium this machine's tests would use (QR_LOGIN_CHROMIUM). */
  chromium: string;
  osRelease: (kind: keyof typeof OS) => string;
}

let n = 0;
/** A folder for PATH with the stand-ins asked for, and a log of what they were asked to do. */
function machine(o: { aptGet?: "works" | "fails"; sudo?: "passwordless" | "asks"; have?: string[] } = {}): Machine {
  const dir = path.join(tmp, `m${n++}`);
  const bin = path.join(dir, "bin");
  mkdirSync(bin, { recursive: true });
  const log = path.join(dir, "log");
  writeFileSync(log, "");
  // The stand-ins run with this PATH only: `env` (which the script puts before apt-get) is the real one.
  symlinkSync("/usr/bin/env", path.join(bin, "env"));
  for (const p of o.have ?? []) writeFileSync(path.join(bin, p), "#!/bin/sh\n", { mode: 0o755 });
  if (o.aptGet) {
    const body = o.aptGet === "fails"
      ? `echo "E: Unable to locate package $6" >&2\nexit 100\n`
      : `if [ "$1" = install ]; then for p in "$@"; do case "$p" in -*|install) ;; *) printf '#!/bin/sh\\n' > "${bin}/$p"; /bin/chmod 755 "${bin}/$p";; esac; done; fi\necho "dpkg: noisy output nobody needs"\n`;
    writeFileSync(path.join(bin, "apt-get"), `#!/bin/sh\necho "apt-get $* DEBIAN_FRONTEND=$DEBIAN_FRONTEND" >> "${log}"\n${body}`, { mode: 0o755 });
  }
  if (o.sudo) {
    const probe = o.sudo === "passwordless" ? 0 : 1;
    writeFileSync(path.join(bin, "sudo"), `#!/bin/sh\necho "sudo $*" >> "${log}"\n[ "$1" = -n ] || exit 1\nshift\n[ "$1" = true ] && exit ${probe}\nexec "$@"\n`, { mode: 0o755 });
  }
  return {
    bin,
    log,
    chromium: path.join(bin, "chromium"),
    osRelease: (kind) => {
      const file = path.join(dir, `os-release-${kind}`);
      writeFileSync(file, OS[kind]);
      return file;
    },
  };
}

/** The script's main() in a child process, as `npm test` runs it, with the given options. */
function run(m: Machine, options: MainOptions) {
  const code = `import { main } from ${JSON.stringify(pathToFileURL(script).href)}; process.exitCode = main(JSON.parse(process.argv[1]));`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", code, JSON.stringify(options)], {
    encoding: "utf8",
    env: { PATH: m.bin, QR_LOGIN_CHROMIUM: m.chromium, HOME: tmp },
  });
  return { code: r.status, out: r.stdout, err: r.stderr, log: readFileSync(m.log, "utf8").trim().split("\n").filter(Boolean) };
}

const lines = (s: string) => s.split("\n").filter(Boolean);

describe("npm test's check of the programs the tests start", () => {
  test("nothing missing: silent, nothing run", () => {
    const m = machine({ aptGet: "works", have: [A.program, B.program, "chromium"] });
    const r = run(m, { uid: 1000, osRelease: m.osRelease("debian"), needs: [A, B, CHROME] });
    expect(r).toEqual({ code: 0, out: "", err: "", log: [] });
  });

  test("missing, as root on Debian: apt-get installs them, non-interactive and quiet, and says so in one line", () => {
    const m = machine({ aptGet: "works", sudo: "passwordless", have: [B.program] });
    const r = run(m, { uid: 0, osRelease: m.osRelease("debian"), needs: [A, B, CHROME] });
    expect(r.code).toBe(0);
    expect(r.err).toBe("");
    expect(lines(r.out)).toEqual(["npm test: installing qrl-test-redis, chromium with apt-get (programs the tests start)"]);
    expect(r.log).toEqual([
      "apt-get update -qq DEBIAN_FRONTEND=noninteractive",
      "apt-get install -y -qq --no-install-recommends qrl-test-redis chromium DEBIAN_FRONTEND=noninteractive",
    ]);
    expect(existsSync(path.join(m.bin, A.program)) && existsSync(m.chromium)).toBe(true);
  });

  test("missing, a user with sudo that needs no password: sudo apt-get", () => {
    const m = machine({ aptGet: "works", sudo: "passwordless" });
    const r = run(m, { uid: 1000, osRelease: m.osRelease("debian"), needs: [A, B] });
    expect(r.code).toBe(0);
    expect(lines(r.out)).toEqual(["npm test: installing qrl-test-redis, qrl-test-nginx with sudo apt-get (programs the tests start)"]);
    expect(r.log).toEqual([
      "sudo -n true",
      "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -qq",
      "apt-get update -qq DEBIAN_FRONTEND=noninteractive",
      "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qrl-test-redis qrl-test-nginx",
      "apt-get install -y -qq --no-install-recommends qrl-test-redis qrl-test-nginx DEBIAN_FRONTEND=noninteractive",
    ]);
  });

  test("missing, and sudo would ask for a password: stops before anything runs, one line naming the command", () => {
    const m = machine({ aptGet: "works", sudo: "asks" });
    const r = run(m, { uid: 1000, osRelease: m.osRelease("debian"), needs: [A, B, CHROME] });
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    expect(lines(r.err)).toEqual(["npm test: the tests need qrl-test-redis, qrl-test-nginx, chromium, not installed here; run: sudo apt-get install qrl-test-redis qrl-test-nginx chromium"]);
    expect(r.log).toEqual(["sudo -n true"]);
  });

  test("missing, no sudo at all: the same one line", () => {
    const m = machine({ aptGet: "works" });
    const r = run(m, { uid: 1000, osRelease: m.osRelease("debian"), needs: [A] });
    expect(r.code).toBe(1);
    expect(lines(r.err)).toEqual(["npm test: the tests need qrl-test-redis, not installed here; run: sudo apt-get install qrl-test-redis"]);
    expect(r.log).toEqual([]);
  });

  test("apt-get fails: its error, then the command to run, and a non-zero exit", () => {
    const m = machine({ aptGet: "fails" });
    const r = run(m, { uid: 0, osRelease: m.osRelease("debian"), needs: [A] });
    expect(r.code).toBe(1);
    expect(r.err).toContain("E: Unable to locate package");
    expect(lines(r.err).at(-1)).toMatch(/^npm test: `.*apt-get update -qq` failed \(above\); after fixing that, run: apt-get install qrl-test-redis$/);
  });

  test("Ubuntu: redis and nginx from apt, Chromium from Playwright (Ubuntu's is a snap the tests cannot drive)", () => {
    const m = machine({ aptGet: "works" });
    const cli = path.join(m.bin, "..", "playwright-cli.mjs");
    writeFileSync(cli, `import { appendFileSync, writeFileSync } from "node:fs";\nappendFileSync(${JSON.stringify(m.log)}, "playwright-core " + process.argv.slice(2).join(" ") + "\\n");\nwriteFileSync(process.env.QR_LOGIN_CHROMIUM, "#!/bin/sh\\n", { mode: 0o755 });\n`);
    const r = run(m, { uid: 0, osRelease: m.osRelease("ubuntu"), needs: [A, CHROME], playwrightCli: cli });
    expect(r.code).toBe(0);
    expect(lines(r.out)).toEqual(["npm test: installing qrl-test-redis with apt-get and Chromium with playwright-core (programs the tests start)"]);
    expect(r.log).toEqual([
      "apt-get update -qq DEBIAN_FRONTEND=noninteractive",
      "apt-get install -y -qq --no-install-recommends qrl-test-redis DEBIAN_FRONTEND=noninteractive",
      "playwright-core install --with-deps --no-shell chromium",
    ]);
  });

  test("Ubuntu, nobody to install: the line names both commands", () => {
    const m = machine({ aptGet: "works" });
    const r = run(m, { uid: 1000, osRelease: m.osRelease("mint"), needs: [A, CHROME] });
    expect(r.code).toBe(1);
    expect(lines(r.err)).toEqual(["npm test: the tests need qrl-test-redis, chromium, not installed here; run: sudo apt-get install qrl-test-redis && npx playwright-core install --with-deps --no-shell chromium"]);
  });

  test("macOS: Homebrew and Playwright's Chromium, named in one line; nothing installed", () => {
    const m = machine({ aptGet: "works", sudo: "passwordless" });
    const r = run(m, { uid: 501, platform: "darwin", needs: [A, B, CHROME] });
    expect(r.code).toBe(1);
    expect(lines(r.err)).toEqual(["npm test: the tests need qrl-test-redis, qrl-test-nginx, chromium, not installed here; run: brew install redis nginx && npx playwright-core install --no-shell chromium"]);
    expect(r.log).toEqual([]);
  });

  test("another Linux: says it installs only on Debian and Ubuntu, and names what is needed", () => {
    const m = machine({ sudo: "passwordless" });
    const r = run(m, { uid: 0, osRelease: m.osRelease("fedora"), needs: [A, CHROME] });
    expect(r.code).toBe(1);
    expect(lines(r.err)).toEqual(["npm test: the tests need qrl-test-redis, chromium, not installed here; this script installs them only on Debian and Ubuntu: install them with your package manager (Chromium: any build, named by QR_LOGIN_CHROMIUM)"]);
    expect(r.log).toEqual([]);
  });

  test("the system is read from /etc/os-release: ID, then ID_LIKE", () => {
    const m = machine();
    expect(systemKind("linux", m.osRelease("debian"))).toBe("debian");
    expect(systemKind("linux", m.osRelease("ubuntu"))).toBe("ubuntu");
    expect(systemKind("linux", m.osRelease("mint"))).toBe("ubuntu");
    expect(systemKind("linux", m.osRelease("fedora"))).toBe("other");
    expect(systemKind("linux", path.join(tmp, "no-such-file"))).toBe("other");
    expect(systemKind("darwin")).toBe("macos");
  });

  test("it checks what the tests start, and runs before anything else in `npm test`", () => {
    expect(NEEDS.map((need) => need.apt)).toEqual(["redis-server", "nginx", "chromium", "openssl"]);
    const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { scripts: Record<string, string> };
    expect(pkg.scripts.test).toMatch(/^node scripts\/system-deps\.mjs && /);
  });
});
