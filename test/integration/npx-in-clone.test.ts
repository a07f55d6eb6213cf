// `npx qr-login …` in the clone, as the README has it, typed in a shell: the machine's own npx (npm on
// the system's Node, 20 on the CI machines), with no node_modules/.bin on PATH. npm runs a project's
// own bin by installing the project into its npx cache (libnpmexec: a command named in the local
// package.json's `bin` is installed from that folder, before node_modules/.bin is looked at), and that
// install checks package.json `engines` against the Node npm runs on. So npm must find nothing to warn
// about, on the first call (a fresh npm cache: the install) and after it.
import { describe, test, expect, afterAll } from "@jest/globals";
import { spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const cache = mkdtempSync(path.join(tmpdir(), "qr-login-npm-cache-"));
afterAll(() => rmSync(cache, { recursive: true, force: true }));

// PATH as in the user's shell: without what `npm run` put in front (node_modules/.bin folders, npm's
// node-gyp-bin), so `node` and `npx` are the machine's.
const shellPath = (process.env.PATH ?? "").split(path.delimiter).filter((d) => d && !d.split(path.sep).includes("node_modules")).join(path.delimiter);

function onPath(name: string): string | null {
  for (const dir of shellPath.split(path.delimiter)) {
    try {
      accessSync(path.join(dir, name), constants.X_OK);
      return path.join(dir, name);
    } catch {
      /* next */
    }
  }
  return null;
}

function shellEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // npm run's own variables (npm_config_*, npm_package_*, npm_lifecycle_*) and jest's NODE_OPTIONS are not in a user's shell.
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== "NODE_OPTIONS" && k !== "INIT_CWD") env[k] = v;
  return { ...env, PATH: shellPath, npm_config_cache: cache };
}

function npx(args: string[]): Promise<{ code: number | null; out: string; err: string; seconds: number }> {
  const exe = onPath("npx");
  if (!exe) throw new Error(`no npx on PATH outside node_modules (${shellPath})`);
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(exe, args, { cwd: root, env: shellEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out, err, seconds: Number(process.hrtime.bigint() - started) / 1e9 }));
  });
}

describe("npx qr-login in the clone, with the machine's npx", () => {
  test("the first call (npm installs the project into its npx cache) and the next: the help, and no npm warning", async () => {
    for (const call of ["first", "next"]) {
      const r = await npx(["qr-login", "--help"]);
      expect({ call, code: r.code, err: r.err }).toEqual({ call, code: 0, err: "" });
      expect(r.out).toMatch(/^usage: qr-login <command> \[options\]/);
    }
  }, 60_000);
});
