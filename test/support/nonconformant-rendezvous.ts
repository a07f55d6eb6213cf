// A second, independent rendezvous server for testing the conformance runner (main/conformance/):
// both APIs written from the MSC4388 text and Synapse's 2024 servlets in one small node:http file,
// correct by default, with switchable faults, each a violation seen in the field or in another
// implementation. With no fault every black-box case must pass; with one, exactly the cases that
// check that rule must fail. It is a test double, not a reference: the reference is server/rendezvous.
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type Fault =
  /** 2025: a PUT with a stale sequence_token and other data overwrites (200) instead of 409. */
  | "stale-write-accepted"
  /** Both APIs: DELETE answers success but the session stays readable and writable. */
  | "no-404-after-delete"
  /** 2025: the token is a hash of the data, so rewriting the same data keeps it (Synapse's same-millisecond bug). */
  | "token-unchanged-on-identical-write"
  /** 2025: the idempotent retry is honoured only for the previous token (Synapse), not any stale one. */
  | "only-previous-token-idempotent"
  /** 2024: ETags are weak (W/"…"), as behind a compressing proxy, and If-Match compares strongly. */
  | "weak-etag-2024"
  /** 2024: GET answers without an ETag (a proxy or extension that strips it). */
  | "no-etag-on-2024-get"
  /** 2024: payloads say `text/plain; charset=utf-8`, which matrix-js-sdk ignores. */
  | "charset-on-2024-payload";

const V1 = "/_matrix/client/v1/rendezvous";
const UNSTABLE = "/_matrix/client/unstable/io.element.msc4388/rendezvous";
const P2024 = "/_matrix/client/unstable/org.matrix.msc4108/rendezvous";
const SESSIONS_2024 = "/_synapse/client/rendezvous/";
const MAX_DATA = 4096;
const TTL_MS = 120_000;
const TTL_2024_MS = 60_000;

interface Session { data: string; token: string; previous?: string; expiresAt: number; deleted: boolean; createdAt: number; modifiedAt: number }

class HttpError extends Error {
  constructor(readonly status: number, readonly errcode: string, message: string) { super(message); }
}

const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, HEAD, POST, PUT, DELETE, OPTIONS",
  "access-control-allow-headers": "X-Requested-With, Content-Type, Authorization, Date, If-Match, If-None-Match",
  "access-control-expose-headers": "ETag",
};

const newId = () => randomBytes(16).toString("base64url");

export class NonconformantRendezvous {
  url = "";
  /** Added to the real clock: a test moves time on instead of waiting for an expiry. */
  offsetMs = 0;
  private readonly sessions = new Map<string, Session>();
  private readonly server = createServer((req, res) => void this.handle(req, res));

  constructor(readonly faults: ReadonlySet<Fault> = new Set()) {}

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private now(): number {
    return Date.now() + this.offsetMs;
  }

  private live(id: string): Session {
    const s = this.sessions.get(id);
    if (!s || (s.deleted && !this.faults.has("no-404-after-delete")) || s.expiresAt <= this.now()) throw new HttpError(404, "M_NOT_FOUND", "Unknown rendezvous session");
    return s;
  }

  private token(data: string): string {
    return this.faults.has("token-unchanged-on-identical-write") ? createHash("sha256").update(data).digest("base64url") : newId();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const path = new URL(req.url ?? "/", "http://x").pathname;
    try {
      if (req.method === "OPTIONS") { res.writeHead(204, { ...CORS, "content-length": "0" }).end(); return; }
      if (path === "/_matrix/client/versions") return this.json(res, 200, { versions: ["v1.11"], unstable_features: { "org.matrix.msc4108": true } });
      for (const prefix of [V1, UNSTABLE]) {
        if (path === prefix) return this.collection2025(req, res, raw);
        if (path.startsWith(`${prefix}/`)) return this.session2025(req, res, raw, prefix, path.slice(prefix.length + 1));
      }
      if (path === P2024) return this.create2024(req, res, raw);
      if (path.startsWith(SESSIONS_2024)) return this.session2024(req, res, raw, path.slice(SESSIONS_2024.length));
      throw new HttpError(404, "M_UNRECOGNIZED", "Unrecognized request");
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      this.json(res, err.status, { errcode: err.errcode, error: err.message });
    }
  }

  private json(res: ServerResponse, status: number, body: unknown, head = false): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { ...CORS, "content-type": "application/json", "cache-control": "no-store", "content-length": String(Buffer.byteLength(text)) });
    res.end(head ? undefined : text);
  }

  private parse(raw: Buffer, fields: string[]): Record<string, string> {
    let body: unknown;
    try { body = JSON.parse(raw.toString("utf8")); } catch { throw new HttpError(400, "M_NOT_JSON", "Body is not JSON"); }
    if (!body || typeof body !== "object") throw new HttpError(400, "M_BAD_JSON", "Body is not an object");
    const record = body as Record<string, unknown>;
    for (const f of fields) if (typeof record[f] !== "string") throw new HttpError(400, "M_INVALID_PARAM", `${f} must be a string`);
    if (Buffer.byteLength(record.data as string) > MAX_DATA) throw new HttpError(413, "M_TOO_LARGE", "data is too large");
    return record as Record<string, string>;
  }

  private collection2025(req: IncomingMessage, res: ServerResponse, raw: Buffer): void {
    if (req.method === "GET") return this.json(res, 200, { create_available: true });
    if (req.method !== "POST") throw new HttpError(405, "M_UNRECOGNIZED", "Method not allowed");
    const { data } = this.parse(raw, ["data"]);
    const id = newId();
    const now = this.now();
    const s: Session = { data: data!, token: this.token(data!), expiresAt: now + TTL_MS, deleted: false, createdAt: now, modifiedAt: now };
    this.sessions.set(id, s);
    this.json(res, 200, { id, sequence_token: s.token, expires_in_ms: s.expiresAt - now });
  }

  private session2025(req: IncomingMessage, res: ServerResponse, raw: Buffer, prefix: string, id: string): void {
    if (id.includes("/")) throw new HttpError(404, "M_UNRECOGNIZED", "Unrecognized request");
    if (req.method === "GET" || req.method === "HEAD") {
      const h = req.headers;
      if ((h["sec-fetch-dest"] && h["sec-fetch-dest"] !== "empty") || h["sec-fetch-mode"] === "navigate" || h["sec-fetch-user"] === "?1" || h["sec-fetch-site"] === "none") {
        throw new HttpError(403, "M_FORBIDDEN", "Not for navigation");
      }
      const s = this.live(id);
      return this.json(res, 200, { data: s.data, sequence_token: s.token, expires_in_ms: s.expiresAt - this.now() }, req.method === "HEAD");
    }
    if (req.method === "PUT") {
      const body = this.parse(raw, ["sequence_token", "data"]);
      const s = this.live(id);
      const identical = body.data === s.data && (!this.faults.has("only-previous-token-idempotent") || body.sequence_token === s.previous);
      if (body.sequence_token !== s.token && identical) return this.json(res, 200, { sequence_token: s.token });
      if (body.sequence_token !== s.token && !this.faults.has("stale-write-accepted")) {
        throw new HttpError(409, prefix === V1 ? "M_CONCURRENT_WRITE" : "IO_ELEMENT_MSC4388_CONCURRENT_WRITE", "Concurrent write");
      }
      s.previous = s.token;
      s.data = body.data!;
      s.token = this.token(s.data);
      return this.json(res, 200, { sequence_token: s.token });
    }
    if (req.method === "DELETE") {
      this.live(id).deleted = true;
      return this.json(res, 200, {});
    }
    throw new HttpError(405, "M_UNRECOGNIZED", "Method not allowed");
  }

  private headers2024(s: Session, get: boolean): Record<string, string> {
    const etag = this.faults.has("weak-etag-2024") ? `W/"${s.token}"` : `"${s.token}"`;
    return {
      ...CORS,
      ...(get && this.faults.has("no-etag-on-2024-get") ? {} : { etag }),
      expires: new Date(s.expiresAt).toUTCString(),
      date: new Date(this.now()).toUTCString(),
      "last-modified": new Date(s.modifiedAt).toUTCString(),
      "cache-control": "no-store, no-transform",
      pragma: "no-cache",
    };
  }

  private textBody(req: IncomingMessage, raw: Buffer): string {
    const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== "text/plain") throw new HttpError(400, "M_INVALID_PARAM", "Content-Type must be text/plain");
    if (raw.length > MAX_DATA) throw new HttpError(413, "M_TOO_LARGE", "Body too large");
    return raw.toString("latin1");
  }

  private create2024(req: IncomingMessage, res: ServerResponse, raw: Buffer): void {
    if (req.method !== "POST") throw new HttpError(405, "M_UNRECOGNIZED", "Method not allowed");
    const data = this.textBody(req, raw);
    const id = newId();
    const now = this.now();
    const s: Session = { data, token: newId(), expiresAt: now + TTL_2024_MS, deleted: false, createdAt: now, modifiedAt: now };
    this.sessions.set(id, s);
    const text = JSON.stringify({ url: `${this.url}${SESSIONS_2024}${id}` });
    res.writeHead(201, { ...this.headers2024(s, false), "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) }).end(text);
  }

  private session2024(req: IncomingMessage, res: ServerResponse, raw: Buffer, id: string): void {
    if (req.method === "GET") {
      const s = this.live(id);
      const tags = (req.headers["if-none-match"] ?? "").split(",").map((t) => t.trim().replace(/^W\//, ""));
      if (tags.includes(`"${s.token}"`)) { res.writeHead(304, this.headers2024(s, true)).end(); return; }
      const type = this.faults.has("charset-on-2024-payload") ? "text/plain; charset=utf-8" : "text/plain";
      const bytes = Buffer.from(s.data, "latin1");
      res.writeHead(200, { ...this.headers2024(s, true), "content-type": type, "content-length": String(bytes.length) }).end(bytes);
      return;
    }
    if (req.method === "PUT") {
      const ifMatch = req.headers["if-match"];
      if (!ifMatch) throw new HttpError(400, "M_MISSING_PARAM", "Missing If-Match");
      const data = this.textBody(req, raw);
      const s = this.live(id);
      // Strong comparison, as Synapse does: a weakened tag sent back never matches.
      if (ifMatch !== `"${s.token}"`) throw new HttpError(412, "M_CONCURRENT_WRITE", "ETag mismatch");
      s.data = data;
      s.token = newId();
      s.modifiedAt = this.now();
      res.writeHead(202, { ...this.headers2024(s, false), "content-type": "text/plain", "content-length": "0" }).end();
      return;
    }
    if (req.method === "DELETE") {
      this.live(id).deleted = true;
      res.writeHead(204, { ...CORS, "content-length": "0" }).end();
      return;
    }
    throw new HttpError(405, "M_UNRECOGNIZED", "Method not allowed");
  }
}
