// A stand-in that answers as Synapse does where sign in with QR touches it (notes from Synapse's
// synapse/rest/client/rendezvous.py, rust/src/rendezvous and rust/src/msc4388_rendezvous, and their
// tests), for deployment tests that need "a homeserver that is not ours":
//   /versions                 org.matrix.msc4108 when the 2024 version is on (natively or delegated)
//   auth_metadata             MAS's metadata as Synapse passes it through (device grant optional)
//   2024, msc4108_enabled     POST .../org.matrix.msc4108/rendezvous → 201 {"url": <public_baseurl>_synapse/client/rendezvous/<ULID>}
//                             ETag = "base64url(SHA-256(body))", Expires (60 s), no guard against
//                             compressing proxies beyond Cache-Control: no-store, no-transform;
//                             GET 200/304, PUT If-Match → 202 / 412 M_UNKNOWN + org.matrix.msc4108.errcode, DELETE 204
//   2024, delegation          POST → 307 to msc4108_delegation_endpoint
//   2025, msc4388_mode        only the unstable prefix; authenticated: 401 without a token; a retried
//                             PUT is accepted only from 1.157 on (previous token, same data)
// Every JSON answer carries Synapse's generic CORS set; the 2024 paths their own (If-Match, ETag).
// Knobs for faults: a skewed clock, a wrong public_baseurl, no device grant.
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface SynapseStandinOptions {
  /** The 2024 version: served (true), delegated (a URL: msc4108_delegation_endpoint), or off. */
  msc4108?: boolean | { delegateTo: string };
  msc4388Mode?: "off" | "open" | "authenticated";
  /** Synapse ≥ 1.157 accepts a retried PUT (default true). */
  idempotentPut?: boolean;
  deviceGrant?: boolean;
  /** public_baseurl (default: the request's own origin, as a correctly configured Synapse). */
  publicBaseUrl?: string;
  /** The server's clock runs this far from ours. */
  skewMs?: number;
  accessToken?: string;
}

const P2024 = "/_matrix/client/unstable/org.matrix.msc4108/rendezvous";
const SESSION_2024 = "/_synapse/client/rendezvous/";
const P2025 = "/_matrix/client/unstable/io.element.msc4388/rendezvous";
const GENERIC_CORS = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, DELETE, OPTIONS",
  "Access-Control-Allow-Headers": "X-Requested-With, Content-Type, Authorization, Date",
  "Access-Control-Expose-Headers": "Synapse-Trace-Id, Server",
};
const MSC4108_CORS = { ...GENERIC_CORS, "Access-Control-Allow-Headers": "Content-Type, If-Match, If-None-Match", "Access-Control-Expose-Headers": "Synapse-Trace-Id, Server, ETag" };

interface Session2024 { data: Buffer; etag: string; created: number; expires: number }
interface Session2025 { data: string; token: string; previous: string | null; expires: number }

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
function ulid(): string {
  let out = "";
  for (const b of randomBytes(26)) out += CROCKFORD[b % 32];
  return out;
}

export class SynapseStandin {
  url = "";
  readonly sessions2024 = new Map<string, Session2024>();
  readonly sessions2025 = new Map<string, Session2025>();
  private readonly server = createServer((req, res) => void this.handle(req, res).catch(() => { if (!res.headersSent) res.writeHead(500); res.end(); }));

  constructor(readonly o: SynapseStandinOptions = {}) {}

  async start(port = 0): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(port, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private now(): number {
    return Date.now() + (this.o.skewMs ?? 0);
  }

  private send(res: ServerResponse, status: number, body: string | Buffer, headers: Record<string, string>): void {
    res.sendDate = false;
    res.writeHead(status, { Date: new Date(this.now()).toUTCString(), ...headers, ...(status === 204 || status === 304 ? {} : { "Content-Length": String(Buffer.byteLength(body)) }) });
    res.end(status === 204 || status === 304 ? undefined : body);
  }

  private json(res: ServerResponse, status: number, body: unknown, cors: Record<string, string> = GENERIC_CORS, extra: Record<string, string> = {}): void {
    this.send(res, status, JSON.stringify(body), { "Content-Type": "application/json", "Cache-Control": "no-cache, no-store, must-revalidate", ...cors, ...extra });
  }

  private error(res: ServerResponse, status: number, errcode: string, error: string, cors = GENERIC_CORS, extra: Record<string, unknown> = {}): void {
    this.json(res, status, { errcode, error, ...extra }, cors);
  }

  private base(req: IncomingMessage): string {
    return this.o.publicBaseUrl ?? `http://${req.headers.host}/`;
  }

  private headers2024(s: Session2024): Record<string, string> {
    return {
      ETag: s.etag,
      Expires: new Date(s.expires + (this.o.skewMs ?? 0)).toUTCString(),
      "Last-Modified": new Date(s.created + (this.o.skewMs ?? 0)).toUTCString(),
      "Cache-Control": "no-store, no-transform",
      Pragma: "no-cache",
      "Access-Control-Allow-Origin": "*",
      "Access-Control-Expose-Headers": "etag",
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const method = req.method ?? "GET";
    const on2024 = this.o.msc4108 !== undefined && this.o.msc4108 !== false;
    const mode = this.o.msc4388Mode ?? "off";
    if (method === "OPTIONS") {
      const cors = path.startsWith(P2024) || path.startsWith(SESSION_2024) ? MSC4108_CORS : GENERIC_CORS;
      return this.send(res, 204, "", cors);
    }
    if (path === "/_matrix/client/versions") {
      return this.json(res, 200, { versions: ["v1.11", "v1.15"], unstable_features: { "org.matrix.msc4108": on2024, "org.matrix.msc3861": true } });
    }
    if (path === "/_matrix/client/v1/auth_metadata" || path === "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata") {
      const issuer = "https://mas.example.invalid/";
      const grant = this.o.deviceGrant !== false;
      return this.json(res, 200, {
        issuer,
        authorization_endpoint: `${issuer}authorize`,
        token_endpoint: `${issuer}oauth2/token`,
        revocation_endpoint: `${issuer}oauth2/revoke`,
        registration_endpoint: `${issuer}oauth2/registration`,
        ...(grant ? { device_authorization_endpoint: `${issuer}oauth2/device` } : {}),
        response_types_supported: ["code"],
        response_modes_supported: ["form_post", "query", "fragment"],
        grant_types_supported: ["authorization_code", "refresh_token", "client_credentials", ...(grant ? ["urn:ietf:params:oauth:grant-type:device_code"] : [])],
        code_challenge_methods_supported: ["plain", "S256"],
      });
    }
    if (path === P2024 && on2024) return this.create2024(req, res, body);
    if (path.startsWith(SESSION_2024) && on2024 && this.o.msc4108 === true) return this.session2024(req, res, body, path.slice(SESSION_2024.length));
    if ((path === P2025 || path.startsWith(`${P2025}/`)) && mode !== "off") return this.handle2025(req, res, body, path.slice(P2025.length + 1), mode);
    return this.error(res, 404, "M_UNRECOGNIZED", "Unrecognized request");
  }

  private create2024(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    if (req.method !== "POST") return this.error(res, 405, "M_UNRECOGNIZED", "Unrecognized request", MSC4108_CORS);
    if (typeof this.o.msc4108 === "object") {
      return this.send(res, 307, "", { Location: this.o.msc4108.delegateTo, "Access-Control-Allow-Origin": "*" });
    }
    if (req.headers["content-type"] !== "text/plain") return this.error(res, 400, "M_INVALID_PARAM", "Content-Type must be text/plain", MSC4108_CORS);
    if (body.length > 4096) return this.error(res, 413, "M_TOO_LARGE", "Payload too large", MSC4108_CORS);
    const id = ulid();
    const created = Date.now();
    const s: Session2024 = { data: body, etag: etagOf(body), created, expires: created + 60_000 };
    this.sessions2024.set(id, s);
    this.send(res, 201, JSON.stringify({ url: `${this.base(req)}${SESSION_2024.slice(1)}${id}` }), { "Content-Type": "application/json", ...this.headers2024(s) });
  }

  private session2024(req: IncomingMessage, res: ServerResponse, body: Buffer, id: string): void {
    const s = this.sessions2024.get(id);
    if (!s || Date.now() >= s.expires) {
      this.sessions2024.delete(id);
      return this.error(res, 404, "M_NOT_FOUND", "Not found", MSC4108_CORS);
    }
    switch (req.method) {
      case "GET":
        if (req.headers["if-none-match"] === s.etag) return this.send(res, 304, "", this.headers2024(s));
        return this.send(res, 200, s.data, { "Content-Type": "text/plain", ...this.headers2024(s) });
      case "PUT": {
        const ifMatch = req.headers["if-match"];
        if (ifMatch === undefined) return this.error(res, 400, "M_MISSING_PARAM", "Missing If-Match header", MSC4108_CORS);
        if (req.headers["content-type"] !== "text/plain") return this.error(res, 400, "M_INVALID_PARAM", "Content-Type must be text/plain", MSC4108_CORS);
        if (body.length > 4096) return this.error(res, 413, "M_TOO_LARGE", "Payload too large", MSC4108_CORS);
        if (ifMatch !== s.etag) return this.error(res, 412, "M_UNKNOWN", "ETag does not match", MSC4108_CORS, { "org.matrix.msc4108.errcode": "M_CONCURRENT_WRITE" });
        s.data = body;
        s.etag = etagOf(body);
        return this.send(res, 202, "", { "Content-Type": "text/plain", ...this.headers2024(s) });
      }
      case "DELETE":
        this.sessions2024.delete(id);
        return this.send(res, 204, "", { "Access-Control-Allow-Origin": "*" });
      default:
        return this.error(res, 405, "M_UNRECOGNIZED", "Unrecognized request", MSC4108_CORS);
    }
  }

  private handle2025(req: IncomingMessage, res: ServerResponse, body: Buffer, id: string, mode: "open" | "authenticated"): void {
    const authed = this.o.accessToken !== undefined && req.headers.authorization === `Bearer ${this.o.accessToken}`;
    const parse = (): Record<string, unknown> | null => {
      try {
        const v: unknown = JSON.parse(body.toString("utf8"));
        return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
      } catch {
        return null;
      }
    };
    const token = (data: string) => createHash("sha256").update(data).update(String(Date.now())).update(randomBytes(4)).digest("base64url");
    if (id === "") {
      if (req.method !== "GET" && req.method !== "POST") return this.error(res, 405, "M_UNRECOGNIZED", "Unrecognized request");
      if (mode === "authenticated" && !authed) return this.error(res, 401, "M_MISSING_TOKEN", "Missing access token");
      if (req.method === "GET") return this.json(res, 200, { create_available: true });
      const b = parse();
      if (!b || typeof b["data"] !== "string") return this.error(res, 400, "M_INVALID_PARAM", "Invalid JSON in request body");
      if (Buffer.byteLength(b["data"]) > 4096) return this.error(res, 413, "M_TOO_LARGE", "Payload too large");
      const sid = ulid();
      const s: Session2025 = { data: b["data"], token: token(b["data"]), previous: null, expires: Date.now() + 120_000 };
      this.sessions2025.set(sid, s);
      return this.json(res, 200, { id: sid, sequence_token: s.token, expires_in_ms: 120_000 });
    }
    const s = this.sessions2025.get(id);
    if (req.method === "PUT") {
      const b = parse();
      if (!b || typeof b["data"] !== "string" || typeof b["sequence_token"] !== "string") return this.error(res, 400, "M_INVALID_PARAM", "Invalid JSON in request body");
      if (Buffer.byteLength(b["data"]) > 4096) return this.error(res, 413, "M_TOO_LARGE", "Payload too large");
      if (!s || Date.now() >= s.expires) return this.error(res, 404, "M_NOT_FOUND", "Not found");
      if (b["sequence_token"] !== s.token) {
        if (this.o.idempotentPut !== false && b["sequence_token"] === s.previous && b["data"] === s.data) return this.json(res, 200, { sequence_token: s.token });
        return this.error(res, 409, "IO_ELEMENT_MSC4388_CONCURRENT_WRITE", "sequence_token does not match");
      }
      s.previous = s.token;
      s.data = b["data"];
      s.token = token(s.data);
      return this.json(res, 200, { sequence_token: s.token });
    }
    if (!s || Date.now() >= s.expires) return this.error(res, 404, "M_NOT_FOUND", "Not found");
    if (req.method === "GET") return this.json(res, 200, { data: s.data, sequence_token: s.token, expires_in_ms: s.expires - Date.now() });
    if (req.method === "DELETE") {
      this.sessions2025.delete(id);
      return this.json(res, 200, {});
    }
    return this.error(res, 405, "M_UNRECOGNIZED", "Unrecognized request");
  }
}

function etagOf(body: Buffer): string {
  return `"${createHash("sha256").update(body).digest("base64url")}"`;
}
