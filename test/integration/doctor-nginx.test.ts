// `qr-login doctor` against deployments behind nginx from apt (test/support/nginx.ts), misconfigured
// the ways the field reports describe, each next to a deployment that must pass: gzip weakening
// ETags (a Synapse-like server; ours guards against it), a proxy_read_timeout under the long-poll
// bound, CORS headers hidden or doubled, rendezvous paths not routed, Host without its port,
// client_max_body_size too small, a cache in front, a charset added to text/plain, If-Match dropped,
// the ETag hidden, a redirect loop, a web page instead of JSON, a self-signed certificate, and a
// certificate this computer trusts (the CLI with NODE_EXTRA_CA_CERTS).
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { diagnose, diagnosis, withStatus } from "../support/doctor.js";
import { REPO_ROOT } from "../support/fixtures.js";
import { startNginx, type NginxOptions, type TestNginx } from "../support/nginx.js";
import { startRendezvousHomeserver, type RendezvousHomeserver } from "../support/rendezvous-homeserver.js";
import { SynapseStandin } from "../support/synapse-standin.js";
import { systemProgram } from "../support/system-programs.js";
import type { DoctorReport } from "../../main/doctor/index.js";

const running: { stop(): Promise<void> }[] = [];
const tmp = mkdtempSync(path.join(os.tmpdir(), "qrl-doctor-"));
// nginx's worker drops root privileges: it must reach the cache directory and the certificates.
chmodSync(tmp, 0o755);
afterAll(async () => {
  for (const r of running.reverse()) await r.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** Our server on a homeserver front, behind nginx configured with `o`. */
async function ours(o: Omit<NginxOptions, "upstreams"> = {}, front: Parameters<typeof startRendezvousHomeserver>[0] = {}): Promise<{ nginx: TestNginx; front: RendezvousHomeserver }> {
  const f = await startRendezvousHomeserver(front);
  running.push({ stop: () => f.close() });
  const nginx = await startNginx({ upstreams: [`127.0.0.1:${f.port}`], ...o });
  running.push(nginx);
  return { nginx, front: f };
}

async function synapse(o: Omit<NginxOptions, "upstreams"> = {}): Promise<TestNginx> {
  const s = await new SynapseStandin({ msc4108: true }).start();
  running.push({ stop: () => s.close() });
  const nginx = await startNginx({ upstreams: [new URL(s.url).host], ...o });
  running.push(nginx);
  return nginx;
}

describe("compression: nginx with gzip on for text/plain and JSON, as operators configure it", () => {
  test("a Synapse-like server: the ETag reaches clients weakened (W/…) after gzip; the check names gzip and the fix, the rest passes", async () => {
    const nginx = await synapse();
    const d = await diagnose(`${nginx.url}/`);
    expect(d.by["rendezvous-2024.etag"]).toMatchObject({ status: "fail", summary: expect.stringMatching(/a GET's answer carries a weak ETag \(W\/"[^"]+"\), and was gzip-compressed on the way: Element sends it back in If-Match/) });
    expect(d.by["rendezvous-2024.etag"].fix).toMatch(/gzip off;.*excludedContentTypes/);
    for (const id of ["rendezvous-2024.create", "rendezvous-2024.consistent", "rendezvous-2024.conditional", "rendezvous-2024.content-type", "rendezvous-2024.cors"] as const) expect([id, d.statuses[id]]).toEqual([id, "pass"]);
    expect(d.verdict[0]!.status).toBe("fail");
  }, 30_000);

  test("our server behind the same nginx: strong ETags, and a GET held for the whole bound (proxy_read_timeout 60 s)", async () => {
    const { nginx, front } = await ours({}, { longPollMs: 1_500 });
    const d = await diagnose(`${nginx.url}/`);
    expect(withStatus(d, "fail")).toEqual([]);
    expect(d.by["rendezvous-2024.etag"].status).toBe("pass");
    expect(d.by["rendezvous.long-poll"]).toMatchObject({ status: "pass", summary: expect.stringMatching(/held 1\.\d s and answered by the server at its bound of 1\.5 s/) });
    expect(await front.store.liveCount(Date.now())).toBe(0);
  }, 30_000);
});

test("proxy_read_timeout under the long-poll bound: the held GET is cut (504), with the directive to change", async () => {
  const { nginx } = await ours({ readTimeoutS: 1 }, { longPollMs: 3_000 });
  const d = await diagnose(`${nginx.url}/`);
  expect(d.by["rendezvous.long-poll"]).toMatchObject({ status: "fail", summary: expect.stringMatching(/the held GET was cut after [12]\.\d s with 504 \(an HTML page, not the homeserver's JSON\), before the server's bound of 3 s/) });
  expect(d.by["rendezvous.long-poll"].fix).toMatch(/proxy_read_timeout 60s;.*responseHeaderTimeout/);
  expect(withStatus(d, "fail")).toEqual(["rendezvous.long-poll"]);
}, 30_000);

describe("CORS through the proxy", () => {
  test("ETag not exposed (proxy_hide_header Access-Control-Expose-Headers): the 2024 version's CORS fails, the 2025 one passes", async () => {
    const { nginx } = await ours({ locationExtra: "proxy_hide_header Access-Control-Expose-Headers;" });
    const d = await diagnose(`${nginx.url}/`);
    expect(d.by["rendezvous-2024.cors"]).toMatchObject({ status: "fail", summary: expect.stringMatching(/does not expose ETag \(Access-Control-Expose-Headers: none\): Element Web cannot read it/) });
    expect(d.by["rendezvous-2025.cors"].status).toBe("pass");
    expect(d.verdict[0]).toMatchObject({ status: "warn", summary: expect.stringMatching(/^Element X can sign in.*Element Web and Desktop cannot \(see rendezvous-2024\.cors\)/) });
  }, 30_000);

  test("Access-Control-Allow-Origin added by the proxy on top of the server's: both versions' CORS fail, naming the duplicate", async () => {
    const { nginx } = await ours({ locationExtra: "add_header Access-Control-Allow-Origin * always;" });
    const d = await diagnose(`${nginx.url}/`);
    for (const id of ["rendezvous-2024.cors", "rendezvous-2025.cors"] as const) {
      expect(d.by[id]).toMatchObject({ status: "fail", summary: expect.stringMatching(/Access-Control-Allow-Origin twice \("\*, \*"\)/), fix: expect.stringMatching(/already sends one/) });
    }
  }, 30_000);

  test("Access-Control-Allow-Origin removed: both versions' CORS fail", async () => {
    const { nginx } = await ours({ locationExtra: "proxy_hide_header Access-Control-Allow-Origin;" });
    const d = await diagnose(`${nginx.url}/`);
    for (const id of ["rendezvous-2024.cors", "rendezvous-2025.cors"] as const) expect(d.by[id]).toMatchObject({ status: "fail", summary: expect.stringMatching(/has no Access-Control-Allow-Origin/) });
  }, 30_000);
});

test("rendezvous paths not routed (the proxy answers 404): the advertised 2024 version fails, the 2025 one is a warning", async () => {
  const { nginx } = await ours({
    serverExtra: "location /_matrix/client/unstable/org.matrix.msc4108/ { return 404; }\n    location ~ ^/_matrix/client/(v1|unstable/io\\.element\\.msc4388)/rendezvous { return 404; }",
  });
  const d = await diagnose(`${nginx.url}/`);
  expect(d.by["rendezvous-2024.create"]).toMatchObject({ status: "fail", summary: expect.stringMatching(/lists org\.matrix\.msc4108, but POST .* answers 404 \(an HTML page, not the homeserver's JSON\) \(from the proxy, not the homeserver\)/) });
  expect(d.by["rendezvous-2024.create"].fix).toMatch(/Synapse main process/);
  expect(d.by["rendezvous-2025.create"]).toMatchObject({ status: "warn", summary: expect.stringMatching(/not served, or not routed/) });
}, 30_000);

test("proxy_set_header Host $host (drops the port): the 2024 session URL points where no rendezvous server is", async () => {
  const { nginx } = await ours({ upstreamHost: "$host" });
  const d = await diagnose(`${nginx.url}/`);
  expect(d.by["rendezvous-2024.create"]).toMatchObject({ status: "fail", summary: expect.stringMatching(/^(the session URL http:\/\/127\.0\.0\.1\/\S+ cannot be reached|GET on the session URL http:\/\/127\.0\.0\.1\/\S+ answered)/) });
  expect(d.by["rendezvous-2024.create"].fix).toMatch(/\$http_host/);
  expect(d.by["rendezvous-2025.create"].status).toBe("pass");
}, 30_000);

test("client_max_body_size 2k: a 4 KiB payload is refused by the proxy (413), both versions", async () => {
  const { nginx } = await ours({ locationExtra: "client_max_body_size 2k;" });
  const d = await diagnose(`${nginx.url}/`);
  expect(d.by["rendezvous.body-size"]).toMatchObject({ status: "fail", summary: expect.stringMatching(/^20\d\d: a .*4096.* refused with 413 \(an HTML page, not the homeserver's JSON\) by the proxy/), fix: expect.stringMatching(/client_max_body_size 16k/) });
  expect(withStatus(d, "fail")).toEqual(["rendezvous.body-size"]);
}, 30_000);

test("a cache in front (proxy_cache ignoring Cache-Control): reads after a write see the old payload", async () => {
  const cache = path.join(tmp, "cache");
  execFileSync("mkdir", ["-p", cache]);
  chmodSync(cache, 0o777);
  const { nginx } = await ours({
    httpExtra: `  proxy_cache_path ${cache} keys_zone=rz:1m;`,
    locationExtra: "proxy_cache rz; proxy_cache_valid 200 30s; proxy_ignore_headers Cache-Control Expires;",
  });
  const d = await diagnose(`${nginx.url}/`);
  for (const id of ["rendezvous-2024.consistent", "rendezvous-2025.consistent"] as const) {
    expect(d.by[id]).toMatchObject({ status: "fail", summary: expect.stringMatching(/as it was before the write: a cache answered/), fix: expect.stringMatching(/proxy_cache off/) });
  }
  // What the cache hides is not blamed on anything else: the writes themselves went through.
  for (const id of ["rendezvous.body-size", "rendezvous-2025.sequence", "rendezvous-2024.etag"] as const) expect([id, d.statuses[id]]).toEqual([id, "pass"]);
}, 30_000);

test("charset utf-8 in the location: text/plain gains a charset, which matrix-js-sdk ignores", async () => {
  const { nginx } = await ours({ locationExtra: "charset utf-8;" });
  const d = await diagnose(`${nginx.url}/`);
  expect(d.by["rendezvous-2024.content-type"]).toMatchObject({ status: "fail", summary: expect.stringMatching(/Content-Type "text\/plain; charset=utf-8", not exactly "text\/plain"/) });
  expect(withStatus(d, "fail")).toEqual(["rendezvous-2024.content-type"]);
}, 30_000);

test("If-Match dropped on the way (proxy_set_header If-Match \"\"): conditional fails", async () => {
  const { nginx } = await ours({ locationExtra: 'proxy_set_header If-Match "";' });
  const d = await diagnose(`${nginx.url}/`);
  expect(d.by["rendezvous-2024.conditional"]).toMatchObject({ status: "fail", summary: expect.stringMatching(/400 M_MISSING_PARAM: If-Match does not reach the server/) });
}, 30_000);

test("ETag hidden (proxy_hide_header ETag): the etag check fails; what needs an ETag is not checked", async () => {
  const { nginx } = await ours({ locationExtra: "proxy_hide_header ETag;" });
  const d = await diagnose(`${nginx.url}/`);
  expect(d.by["rendezvous-2024.etag"]).toMatchObject({ status: "fail", summary: expect.stringMatching(/has no ETag header: Element stops/) });
  expect(d.by["rendezvous-2024.conditional"]).toMatchObject({ status: "skip", summary: expect.stringMatching(/not checked: the session's answers carry no ETag/) });
}, 30_000);

describe("one clear finding, never a hang or a stack trace", () => {
  test("a redirect loop", async () => {
    const { nginx } = await ours({ serverExtra: "location = /_matrix/client/versions { return 302 /_matrix/client/versions; }" });
    const d = await diagnose(`${nginx.url}/`);
    expect(withStatus(d, "fail")).toEqual(["discovery.versions"]);
    expect(d.by["discovery.versions"]).toMatchObject({ summary: "GET /_matrix/client/versions: redirect loop: /_matrix/client/versions → /_matrix/client/versions", fix: expect.stringMatching(/redirect loop/) });
  }, 30_000);

  test("a web page where JSON is expected", async () => {
    const { nginx } = await ours({ serverExtra: 'location /_matrix/ { default_type text/html; return 200 "<!doctype html><title>Welcome to nginx!</title>"; }' });
    const d = await diagnose(`${nginx.url}/`);
    expect(withStatus(d, "fail")).toEqual(["discovery.versions"]);
    expect(d.by["discovery.versions"].summary).toBe("GET /_matrix/client/versions answered 200 (an HTML page, not the homeserver's JSON): this is not a Matrix homeserver's URL, or the proxy does not forward /_matrix to it");
  }, 30_000);
});

describe("TLS", () => {
  let ca: string;
  beforeAll(() => {
    const ssl = (...args: string[]) => execFileSync(systemProgram("openssl"), args, { cwd: tmp, stdio: "pipe" });
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    ssl("req", "-x509", ...ec, "-keyout", "self.key", "-out", "self.pem", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1");
    ssl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=qr-login test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign");
    ssl("req", ...ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1");
    writeFileSync(path.join(tmp, "leaf.ext"), "subjectAltName=IP:127.0.0.1\n");
    ssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "leaf.pem", "-days", "1", "-extfile", "leaf.ext");
    for (const f of ["self.key", "leaf.key"]) chmodSync(path.join(tmp, f), 0o644);
    ca = path.join(tmp, "ca.pem");
  });

  test("a self-signed certificate: one finding, under tls", async () => {
    const { nginx } = await ours({ tls: { certFile: path.join(tmp, "self.pem"), keyFile: path.join(tmp, "self.key") } });
    const d = await diagnose(`${nginx.url}/`);
    expect(withStatus(d, "fail")).toEqual(["tls"]);
    expect(d.by.tls.summary).toMatch(/^GET \/_matrix\/client\/versions: TLS error with 127\.0\.0\.1:\d+: DEPTH_ZERO_SELF_SIGNED_CERT/);
    expect(d.by.tls.fix).toMatch(/fullchain\.pem/);
    expect(withStatus(d, "skip").length).toBe(d.checks.length - 1);
  }, 30_000);

  test("a certificate this computer trusts (the CLI given a server name, with NODE_EXTRA_CA_CERTS): .well-known resolves it, tls passes, and the JSON contract holds", async () => {
    const wellKnown = `location = /.well-known/matrix/client { default_type application/json; add_header Access-Control-Allow-Origin * always; return 200 '{"m.homeserver":{"base_url":"https://127.0.0.1:$server_port"}}'; }`;
    const { nginx } = await ours({ tls: { certFile: path.join(tmp, "leaf.pem"), keyFile: path.join(tmp, "leaf.key") }, serverExtra: wellKnown });
    const serverName = `127.0.0.1:${nginx.port}`;
    const { code, stdout } = await cli(["doctor", serverName, "--json"], { NODE_EXTRA_CA_CERTS: ca });
    const report = JSON.parse(stdout) as DoctorReport;
    expect(Object.keys(report).slice(0, 3)).toEqual(["target", "baseUrl", "ok"]);
    expect(report).toMatchObject({ target: serverName, baseUrl: `${nginx.url}/` });
    const d = diagnosis(report);
    expect(d.by["discovery.well-known"]).toMatchObject({ status: "pass", summary: `${serverName} → ${nginx.url}/ (/.well-known/matrix/client)` });
    expect(d.by.tls).toMatchObject({ status: "pass", summary: expect.stringMatching(/^https with a certificate this computer trusts/) });
    expect(d.by["rendezvous-2024.create"].summary).toContain(`session URL on ${nginx.url}`);
    expect(code).toBe(d.ok ? 0 : 1);
    expect(d.ok).toBe(true);
  }, 30_000);
});

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, "bin/qr-login.js"), ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}
