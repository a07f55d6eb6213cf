// A small listening MSC4108 2024 (ETag) rendezvous server with Synapse's semantics, for the client
// tests of main/protocol-2024, with knobs for what the field does to that API: a skewed server clock,
// a proxy that weakens ETags and adds a charset, a proxy that drops the ETag, our long-poll
// extension. It is a test double of the server's HTTP behaviour (the reference server lives in
// server/rendezvous); every request is logged.
//
// Synapse (synapse/rest/client/rendezvous.py): POST text/plain → 201 {"url"} + ETag/Expires;
// GET → 200 body + ETag, 304 when If-None-Match matches; PUT needs If-Match → 202 + new ETag, 412
// M_CONCURRENT_WRITE on a mismatch; DELETE → 204; 404 M_NOT_FOUND once deleted or expired.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export const CREATE_PATH = "/_matrix/client/unstable/org.matrix.msc4108/rendezvous";
const SESSION_PREFIX = "/_synapse/client/rendezvous/";

export interface Stub2024Options {
  ttlMs?: number;
  /** The server's clock runs this far from ours (negative: behind). Shifts Date, Expires, Last-Modified. */
  skewMs?: number;
  /** Answer with `W/"…"` ETags and `text/plain; charset=utf-8`, as a compressing proxy does; If-Match/If-None-Match compare the strong form only. */
  proxyMangles?: boolean;
  /** Leave the ETag header off payload answers (an extension or proxy that strips it). */
  dropEtag?: boolean;
  /** Hold conditional GETs carrying `since` up to this long (0: no long-poll). */
  longPollMs?: number;
  /** Advertise long-poll in the POST's body. */
  advertiseLongPoll?: boolean;
  /** /_matrix/client/versions unstable features (undefined: not served). */
  unstableFeatures?: Record<string, boolean>;
}

interface StubSession {
  id: string;
  data: string;
  contentType: string;
  etag: string;
  createdAt: number;
  expiresAt: number;
  waiters: Set<() => void>;
}

export interface LoggedRequest2024 {
  method: string;
  path: string;
  search: string;
  headers: Record<string, string | undefined>;
  status?: number;
}

export class Rendezvous2024Stub {
  readonly sessions = new Map<string, StubSession>();
  readonly log: LoggedRequest2024[] = [];
  baseUrl = "";
  private readonly server = createServer((req, res) => void this.handle(req, res));

  constructor(readonly options: Stub2024Options = {}) {}

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  get createUrl(): string {
    return this.baseUrl + CREATE_PATH;
  }

  async close(): Promise<void> {
    for (const s of this.sessions.values()) for (const w of s.waiters) w();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** Requests of one method to session URLs. */
  count(method: string): number {
    return this.log.filter((r) => r.method === method).length;
  }

  /** A third party overwrites the session's payload (what a 412 looks like to the others). */
  overwrite(id: string, data: string): void {
    const s = this.sessions.get(id)!;
    s.data = data;
    s.etag = newEtag();
    for (const w of s.waiters) w();
  }

  idOf(url: string): string {
    return new URL(url).pathname.slice(SESSION_PREFIX.length);
  }

  private serverNow(): number {
    return Date.now() + (this.options.skewMs ?? 0);
  }

  private live(id: string): StubSession | undefined {
    const s = this.sessions.get(id);
    if (s && Date.now() >= s.expiresAt) {
      this.sessions.delete(id);
      for (const w of s.waiters) w();
      return undefined;
    }
    return s;
  }

  private headers(res: ServerResponse, s: StubSession | undefined): void {
    res.sendDate = false;
    res.setHeader("Date", new Date(this.serverNow()).toUTCString());
    res.setHeader("Access-Control-Allow-Origin", "*");
    res.setHeader("Access-Control-Expose-Headers", "etag");
    res.setHeader("Cache-Control", "no-store, no-transform");
    res.setHeader("Pragma", "no-cache");
    if (!s) return;
    if (!this.options.dropEtag) res.setHeader("ETag", this.options.proxyMangles ? `W/${s.etag}` : s.etag);
    res.setHeader("Expires", new Date(s.expiresAt + (this.options.skewMs ?? 0)).toUTCString());
    res.setHeader("Last-Modified", new Date(s.createdAt + (this.options.skewMs ?? 0)).toUTCString());
  }

  private send(res: ServerResponse, status: number, body: string, contentType: string, entry: LoggedRequest2024): void {
    entry.status = status;
    const mangled = this.options.proxyMangles && contentType === "text/plain" ? "text/plain; charset=utf-8" : contentType;
    if (status === 304 || status === 204) {
      res.writeHead(status);
      res.end();
      return;
    }
    res.setHeader("Content-Type", mangled);
    res.setHeader("Content-Length", Buffer.byteLength(body));
    res.writeHead(status);
    res.end(body);
  }

  private error(res: ServerResponse, status: number, errcode: string, error: string, entry: LoggedRequest2024, extra: Record<string, string> = {}): void {
    this.send(res, status, JSON.stringify({ errcode, error, ...extra }), "application/json", entry);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const entry: LoggedRequest2024 = { method: req.method ?? "GET", path: url.pathname, search: url.search, headers: { "if-match": req.headers["if-match"] as string | undefined, "if-none-match": req.headers["if-none-match"] as string | undefined } };
    this.log.push(entry);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const strong = (v: string | undefined): string | undefined => (v === undefined ? undefined : this.options.proxyMangles ? v.replace(/^W\//, "") : v);

    if (url.pathname === "/_matrix/client/versions" && this.options.unstableFeatures) {
      this.headers(res, undefined);
      return this.send(res, 200, JSON.stringify({ versions: ["v1.11"], unstable_features: this.options.unstableFeatures }), "application/json", entry);
    }
    if (url.pathname === CREATE_PATH && req.method === "POST") {
      if ((req.headers["content-type"] ?? "").split(";")[0] !== "text/plain") {
        this.headers(res, undefined);
        return this.error(res, 400, "M_INVALID_PARAM", "Content-Type must be text/plain", entry);
      }
      const id = randomBytes(12).toString("hex");
      const now = Date.now();
      const s: StubSession = { id, data: body, contentType: "text/plain", etag: newEtag(), createdAt: now, expiresAt: now + (this.options.ttlMs ?? 60_000), waiters: new Set() };
      this.sessions.set(id, s);
      // A held GET is answered at the session's expiry, as the reference server does.
      setTimeout(() => this.live(id), s.expiresAt - now + 1).unref();
      this.headers(res, s);
      const answer: Record<string, unknown> = { url: `${this.baseUrl}${SESSION_PREFIX}${id}` };
      if (this.options.advertiseLongPoll) answer["io.github.qr_login.long_poll"] = { query_parameter: "since", max_wait_ms: this.options.longPollMs ?? 0 };
      return this.send(res, 201, JSON.stringify(answer), "application/json", entry);
    }
    if (!url.pathname.startsWith(SESSION_PREFIX)) {
      this.headers(res, undefined);
      return this.error(res, 404, "M_UNRECOGNIZED", "Unrecognized request", entry);
    }
    const id = url.pathname.slice(SESSION_PREFIX.length);
    let s = this.live(id);
    if (!s) {
      this.headers(res, undefined);
      return this.error(res, 404, "M_NOT_FOUND", "Rendezvous session not found", entry);
    }
    switch (req.method) {
      case "GET": {
        const inm = strong(req.headers["if-none-match"] as string | undefined);
        if (inm === s.etag && url.searchParams.has("since") && (this.options.longPollMs ?? 0) > 0) {
          const session = s;
          await new Promise<void>((resolve) => {
            const done = (): void => {
              clearTimeout(timer);
              session.waiters.delete(done);
              resolve();
            };
            const timer = setTimeout(done, this.options.longPollMs);
            session.waiters.add(done);
            req.once("close", done);
          });
          if (res.destroyed) return;
          s = this.live(id);
          if (!s) {
            this.headers(res, undefined);
            return this.error(res, 404, "M_NOT_FOUND", "Rendezvous session not found", entry);
          }
        }
        this.headers(res, s);
        if (inm === s.etag) return this.send(res, 304, "", "", entry);
        return this.send(res, 200, s.data, s.contentType, entry);
      }
      case "PUT": {
        const im = strong(req.headers["if-match"] as string | undefined);
        if (im === undefined) {
          this.headers(res, s);
          return this.error(res, 400, "M_MISSING_PARAM", "Missing If-Match header", entry);
        }
        if (im !== s.etag) {
          this.headers(res, s);
          return this.error(res, 412, "M_UNKNOWN", "ETag does not match", entry, { "org.matrix.msc4108.errcode": "M_CONCURRENT_WRITE" });
        }
        s.data = body;
        s.etag = newEtag();
        for (const w of s.waiters) w();
        this.headers(res, s);
        return this.send(res, 202, "", "text/plain", entry);
      }
      case "DELETE":
        this.sessions.delete(id);
        for (const w of s.waiters) w();
        this.headers(res, undefined);
        return this.send(res, 204, "", "", entry);
      default:
        this.headers(res, s);
        return this.error(res, 405, "M_UNRECOGNIZED", "Method not allowed", entry);
    }
  }
}

function newEtag(): string {
  return `"${randomBytes(9).toString("base64url")}"`;
}
