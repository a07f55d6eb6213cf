// bin/qr-login.js started by an older Node (the machine's /usr/bin/node is Node 20 on the CI machines):
// it must not get as far as better-sqlite3 (which crashes there with a segmentation fault) but re-run
// itself on the project's Node 22, or, when there is none, say exactly what to do and exit 1.
import { describe, test, expect, afterAll } from "@jest/globals";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const tmp = mkdtempSync(path.join(tmpdir(), "qr-login-bin-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** An installed Node older than 22.12, or null (then these tests cannot run here: say so). */
function oldNode(): { exe: string; version: string } | null {
  for (const exe of ["/usr/bin/node", "/usr/local/bin/node"]) {
    const r = spawnSync(exe, ["-p", "process.versions.node"], { encoding: "utf8" });
    if (r.status !== 0) continue;
    const [major, minor] = r.stdout.trim().split(".").map(Number) as [number, number];
    if (major < 22 || (major === 22 && minor < 12)) return { exe, version: r.stdout.trim() };
  }
  return null;
}
const old = oldNode();
const maybe = old ? describe : describe.skip;
if (!old) console.warn("bin-node-version: no Node older than 22.12 installed; the old-Node cases are skipped");

function run(exe: string, args: string[], opts: { untilOutput?: RegExp } = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(exe, args, { cwd: tmp, env: { ...process.env, QR_LOGIN_REEXEC: "" }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    let stopping = false;
    const check = () => {
      // The CLI installs its signal handlers just after printing its listening line: give it a moment.
      if (!stopping && opts.untilOutput && opts.untilOutput.test(out + err)) {
        stopping = true;
        setTimeout(() => child.kill("SIGTERM"), 300);
      }
    };
    child.stdout.on("data", (d: Buffer) => ((out += d.toString()), check()));
    child.stderr.on("data", (d: Buffer) => ((err += d.toString()), check()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err });
    });
  });
}

maybe("qr-login run by an older Node", () => {
  test("re-runs itself on the project's Node 22: the SQLite rendezvous server starts instead of crashing", async () => {
    const db = path.join(tmp, "rv.sqlite");
    // From another folder (cwd = tmp), as `npx --prefix` or a global install would.
    const r = await run(old!.exe, [path.join(root, "bin/qr-login.js"), "server", "--listen", "127.0.0.1:0", "--store", `sqlite:${db}`], { untilOutput: /listening on http:/ });
    expect(r.out + r.err).toMatch(/rendezvous server .*listening on http:\/\/127\.0\.0\.1:\d+/);
    expect(r.err).not.toMatch(/Unsupported runtime/);
    expect(r.signal).not.toBe("SIGSEGV");
    // SIGTERM reached the Node 22 child through the parent, which exits as it did (without forwarding
    // the parent would wait for the child until the test's SIGKILL)
    expect(r.signal === "SIGTERM" || (r.code === 0 && /SIGTERM: shutting down/.test(r.out))).toBe(true);
  }, 40_000);

  test("stdout and the exit code are the CLI's own", async () => {
    const png = path.join(root, "test/fixtures/qr/4388-qr-intent00.png");
    const ok = await run(old!.exe, [path.join(root, "bin/qr-login.js"), "qr", "decode", png]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ prefix: "MATRIX", intent: "login" });
    const bad = await run(old!.exe, [path.join(root, "bin/qr-login.js"), "qr", "decode", "not-hex"]);
    expect(bad.code).toBe(2);
  }, 40_000);

  test("without the project's Node 22 it says what to do, exits 1, and loads nothing", async () => {
    const lonely = path.join(tmp, "lonely");
    mkdirSync(path.join(lonely, "bin"), { recursive: true });
    copyFileSync(path.join(root, "bin/qr-login.js"), path.join(lonely, "bin/qr-login.js"));
    const r = await run(old!.exe, [path.join(lonely, "bin/qr-login.js"), "server"]);
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    expect(r.err).toContain(`this is Node.js ${old!.version} (${old!.exe}); qr-login needs Node.js 22.12 or newer`);
    expect(r.err).toContain(`run \`npm install\` in ${lonely}`);
    expect(r.err).toContain("https://nodejs.org/");
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
  });
});

describe("qr-login on Node 22", () => {
  test("runs directly, without a second process", async () => {
    const r = await run(process.execPath, [path.join(root, "bin/qr-login.js"), "qr", "decode", path.join(root, "test/fixtures/qr/4388-qr-intent00.png")]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ prefix: "MATRIX" });
  });
});
