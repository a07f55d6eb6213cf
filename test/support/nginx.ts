// nginx (apt package nginx) as a reverse proxy in front of test servers, configured the way
// operators configure it: gzip on for text/plain and JSON, HTTP/1.1 keep-alive to the upstream,
// default proxy buffering. Everything lives in a temporary directory (config, pid, logs, temp
// files); nginx runs in the foreground (`-g 'daemon off;'`) as our child and is stopped by its PID.
//
//   const nginx = await startNginx({ upstreams: ["127.0.0.1:8090"] });
//   fetch(`${nginx.url}/_matrix/client/...`);   await nginx.stop();
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { freePort } from "./redis-server.js";
import { systemProgram } from "./system-programs.js";

export interface NginxOptions {
  /** host:port of each upstream server; requests are balanced over them (round robin). */
  upstreams: readonly string[];
  /** `gzip on` with `gzip_types text/plain application/json` (default true). */
  gzip?: boolean;
  /** Idle keep-alive connections to the upstream per worker (default 16; 0 = none, one connection per request). */
  keepalive?: number;
  /** proxy_read_timeout in seconds (default 60, above the rendezvous long-poll bound). */
  readTimeoutS?: number;
  /**
   * The Host header sent upstream (default `$http_host`, which keeps the port: the test's nginx is
   * not on port 443). Operators on the default port write `$host`.
   */
  upstreamHost?: string;
  /** More directives for the proxied location. */
  locationExtra?: string;
  /** More directives in the server block (e.g. locations that answer instead of the upstream). */
  serverExtra?: string;
  /** More directives in the http block (e.g. proxy_cache_path). */
  httpExtra?: string;
  /** Listen with TLS, with this certificate and key (PEM files). */
  tls?: { certFile: string; keyFile: string };
}

export interface TestNginx {
  readonly url: string;
  readonly port: number;
  /** The generated nginx.conf (for failure messages). */
  readonly config: string;
  errorLog(): string;
  accessLog(): string;
  stop(): Promise<void>;
}

export function nginxAvailable(): boolean {
  return spawnSync(systemProgram("nginx"), ["-v"]).status === 0;
}

function configFor(dir: string, port: number, o: NginxOptions): string {
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((k) => `  ${k}_temp_path ${path.join(dir, k)};`).join("\n");
  return `worker_processes 1;
error_log ${path.join(dir, "error.log")} warn;
pid ${path.join(dir, "nginx.pid")};
events { worker_connections 1024; }
http {
  log_format upstream '$request_method $uri $status upstream=$upstream_addr rt=$request_time';
  access_log ${path.join(dir, "access.log")} upstream;
${temp}
${o.gzip === false ? "  gzip off;" : "  gzip on;\n  gzip_types text/plain application/json;"}
${o.httpExtra ?? ""}
  upstream rendezvous {
${o.upstreams.map((u) => `    server ${u};`).join("\n")}
${(o.keepalive ?? 16) > 0 ? `    keepalive ${o.keepalive ?? 16};` : ""}
  }
  server {
    listen 127.0.0.1:${port}${o.tls ? " ssl" : ""};
${o.tls ? `    ssl_certificate ${o.tls.certFile};\n    ssl_certificate_key ${o.tls.keyFile};` : ""}
    location = /__nginx_ready { return 204; }
${o.serverExtra ?? ""}
    location / {
      proxy_pass http://rendezvous;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host ${o.upstreamHost ?? "$http_host"};
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_read_timeout ${o.readTimeoutS ?? 60}s;
${o.locationExtra ?? ""}
    }
  }
}
`;
}

function ready(port: number, tls: boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const get = tls ? https.get : http.get;
    const req = get({ host: "127.0.0.1", port, path: "/__nginx_ready", agent: false, rejectUnauthorized: false }, (res) => { res.resume(); resolve(res.statusCode === 204); });
    req.on("error", () => resolve(false));
    req.setTimeout(500, () => { req.destroy(); resolve(false); });
  });
}

export async function startNginx(o: NginxOptions): Promise<TestNginx> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "qrl-nginx-"));
  // nginx's workers drop root privileges: they must be able to use the temp directories.
  chmodSync(dir, 0o755);
  for (const k of ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]) { mkdirSync(path.join(dir, k)); chmodSync(path.join(dir, k), 0o777); }
  const read = (f: string) => { try { return readFileSync(path.join(dir, f), "utf8"); } catch { return ""; } };
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const config = configFor(dir, port, o);
    writeFileSync(path.join(dir, "nginx.conf"), config);
    // -e: the error log from the first moment (before the config is read), -p: the prefix for the rest.
    const child: ChildProcess = spawn(systemProgram("nginx"), ["-p", dir, "-e", path.join(dir, "error.log"), "-c", path.join(dir, "nginx.conf"), "-g", "daemon off;"], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
    let exited = false;
    const exit = new Promise<void>((resolve) => child.once("exit", () => { exited = true; resolve(); }));
    const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));
    const deadline = Date.now() + 5000;
    let up = false;
    while (!exited && Date.now() < deadline) {
      const failed = await Promise.race([spawnError, new Promise<null>((r) => setTimeout(() => r(null), 50))]);
      if (failed) throw new Error(`cannot start nginx (apt-get install nginx): ${failed.message}`);
      if (await ready(port, o.tls !== undefined)) { up = true; break; }
    }
    if (up) {
      let stopping: Promise<void> | undefined;
      return {
        url: `${o.tls ? "https" : "http"}://127.0.0.1:${port}`, port, config,
        errorLog: () => read("error.log"),
        accessLog: () => read("access.log"),
        stop: () => (stopping ??= (async () => {
          // SIGTERM: nginx's fast shutdown; the master stops its worker and exits (SIGQUIT would
          // wait for held requests, SIGKILL would orphan the worker).
          if (!exited && child.pid !== undefined) process.kill(child.pid, "SIGTERM");
          await exit;
          rmSync(dir, { recursive: true, force: true });
        })()),
      };
    }
    if (!exited && child.pid !== undefined) { process.kill(child.pid, "SIGTERM"); await exit; }
    const why = `${stderr}${read("error.log")}`;
    if (attempt >= 2 || !/Address already in use/.test(why)) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`nginx did not come up:\n${why}\nconfig:\n${config}`);
    }
  }
}
