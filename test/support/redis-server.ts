// Starts a throwaway `redis-server` (apt package redis-server) on a free loopback port for a test
// file, without persistence, and stops it by PID. freeze() stops the process (SIGSTOP) without
// closing anything: a hung Redis, whose connections stay open and answer nothing; stop() always
// lets it continue first, so a frozen Redis never outlives its test.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { systemProgram } from "./system-programs.js";

export interface TestRedis {
  url: string;
  port: number;
  pid: number;
  /** SIGSTOP: the process keeps its sockets but answers nothing. */
  freeze(): void;
  /** SIGCONT. */
  thaw(): void;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    let buf = "";
    sock.setTimeout(500);
    sock.on("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => {
      buf += d.toString();
      if (buf.includes("\r\n")) { sock.destroy(); resolve(buf.startsWith("+PONG")); }
    });
    sock.on("error", () => resolve(false));
    sock.on("timeout", () => { sock.destroy(); resolve(false); });
  });
}

export async function startRedis(): Promise<TestRedis> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "qrl-redis-"));
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child: ChildProcess = spawn(systemProgram("redis-server"), [
      "--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no",
      "--daemonize", "no", "--dir", dir, "--logfile", path.join(dir, "redis.log"),
    ], { stdio: "ignore" });
    let exited = false;
    const exit = new Promise<void>((resolve) => child.once("exit", () => { exited = true; resolve(); }));
    const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));
    const deadline = Date.now() + 5000;
    let up = false;
    while (!exited && Date.now() < deadline) {
      const failed = await Promise.race([spawnError, new Promise<null>((r) => setTimeout(() => r(null), 50))]);
      if (failed) throw new Error(`cannot start redis-server (apt-get install redis-server): ${failed.message}`);
      if (await ping(port)) { up = true; break; }
    }
    if (up) {
      const pid = child.pid!;
      const signal = (sig: NodeJS.Signals) => { if (!exited) process.kill(pid, sig); };
      return {
        url: `redis://127.0.0.1:${port}`,
        port,
        pid,
        freeze: () => signal("SIGSTOP"),
        thaw: () => signal("SIGCONT"),
        stop: async () => {
          signal("SIGCONT"); // a stopped process acts on SIGTERM only once continued
          signal("SIGTERM");
          await exit;
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    if (!exited && child.pid !== undefined) { process.kill(child.pid, "SIGKILL"); await exit; }
    if (attempt >= 2) throw new Error("redis-server did not come up on a loopback port");
  }
}
