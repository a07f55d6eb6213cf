// The conformance runner's HTTP client. node:http rather than fetch: fetch (undici) adds its own
// Sec-Fetch-Mode and Accept-Encoding headers, follows redirects and hides HEAD details, and a case
// must send exactly the headers it names and see exactly what the server answered.
// Every request is bounded (a timeout, a cap on the answer's size), and a request that gets no
// answer rejects with a NetworkError saying why in words, never a bare errno.
import http from "node:http";
import https from "node:https";

export interface Reply {
  status: number;
  headers: Headers;
  /** The body's bytes as received. */
  bytes: Buffer;
  text: string;
  /** The body parsed as a JSON object, or null (no body, not JSON, or JSON that is not an object). */
  json: Record<string, unknown> | null;
}

/** A request that got no HTTP answer: refused, unresolvable host, TLS failure, timeout, cut off. */
export class NetworkError extends Error {
  override readonly name = "NetworkError";
  constructor(readonly url: string, readonly reason: string) {
    super(`${url}: ${reason}`);
  }
}

/** Answers larger than this are cut off: no rendezvous answer is anywhere near it. */
const MAX_ANSWER_BYTES = 1 << 20;

export interface HttpClientOptions {
  /** Per request, from sending to the end of the answer. */
  timeoutMs: number;
}

export interface HttpClient {
  request(method: string, url: string, headers?: Record<string, string>, body?: string | Buffer): Promise<Reply>;
  /** Closes the keep-alive sockets. */
  close(): void;
}

function reasonOf(err: NodeJS.ErrnoException, timeoutMs: number): string {
  switch (err.code) {
    case "ECONNREFUSED": return "connection refused (is the server running, on this port?)";
    case "ENOTFOUND": case "EAI_AGAIN": return "host not found";
    case "ECONNRESET": case "EPIPE": return "the connection was closed before an answer arrived";
    case "EHOSTUNREACH": case "ENETUNREACH": return "host unreachable";
    case "ETIMEDOUT": case "QRL_TIMEOUT": return `no answer within ${timeoutMs >= 1000 ? `${Math.round(timeoutMs / 1000)} s` : `${timeoutMs} ms`}`;
    case "QRL_TOO_LARGE": return `the answer is larger than ${MAX_ANSWER_BYTES} bytes`;
    default:
      if (err.code?.startsWith("ERR_TLS") || err.code?.includes("CERT") || err.code === "EPROTO") return `TLS failed: ${err.message}`;
      return err.message || String(err.code);
  }
}

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const agents = {
    "http:": new http.Agent({ keepAlive: true, maxSockets: 16 }),
    "https:": new https.Agent({ keepAlive: true, maxSockets: 16 }),
  };
  const once = (method: string, url: string, headers: Record<string, string>, body: string | Buffer | undefined, retried: boolean): Promise<Reply> =>
    new Promise((resolve, reject) => {
      let target: URL;
      try { target = new URL(url); } catch { reject(new NetworkError(url, "not a URL")); return; }
      if (target.protocol !== "http:" && target.protocol !== "https:") { reject(new NetworkError(url, "not an http(s) URL")); return; }
      const lib = target.protocol === "https:" ? https : http;
      const req = lib.request(target, {
        method,
        agent: agents[target.protocol],
        headers: { ...headers, ...(body !== undefined ? { "Content-Length": String(Buffer.byteLength(body)) } : {}) },
      }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_ANSWER_BYTES) req.destroy(Object.assign(new Error("too large"), { code: "QRL_TOO_LARGE" }));
          else chunks.push(c);
        });
        res.on("end", () => {
          clearTimeout(timer);
          const bytes = Buffer.concat(chunks);
          const text = bytes.toString("utf8");
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(", ") : v);
          let json: Record<string, unknown> | null = null;
          try {
            const parsed: unknown = text ? JSON.parse(text) : null;
            json = parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
          } catch { json = null; }
          resolve({ status: res.statusCode ?? 0, headers: h, bytes, text, json });
        });
        res.on("error", (err) => { clearTimeout(timer); reject(new NetworkError(url, reasonOf(err, options.timeoutMs))); });
      });
      // One deadline for the whole exchange: a server that trickles its answer is cut off too.
      const timer = setTimeout(() => req.destroy(Object.assign(new Error("timeout"), { code: "QRL_TIMEOUT" })), options.timeoutMs);
      req.on("error", (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        // A kept-alive connection the server closed while it sat idle: the request never reached
        // the server, so it is sent once more on a new connection (Node's documented remedy).
        if (req.reusedSocket && err.code === "ECONNRESET" && !retried) once(method, url, headers, body, true).then(resolve, reject);
        else reject(new NetworkError(url, reasonOf(err, options.timeoutMs)));
      });
      if (body !== undefined) req.write(body);
      req.end();
    });
  return {
    request: (method, url, headers = {}, body) => once(method, url, headers, body, false),
    close() {
      agents["http:"].destroy();
      agents["https:"].destroy();
    },
  };
}
