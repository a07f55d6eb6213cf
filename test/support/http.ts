// Minimal HTTP client for black-box tests. node:http rather than fetch: fetch (undici) sets its own
// Sec-Fetch-Mode and similar headers, and tests must send exactly the headers a case names.
import http from "node:http";

import type { Reply } from "../../main/conformance/http.js";

export type { Reply };

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/**
 * One request. A header given as an array is sent as that many header lines; with a
 * Transfer-Encoding header the body goes out chunked instead of with a Content-Length.
 */
export function httpRequest(base: string, method: string, path: string, headers: Record<string, string | string[]> = {}, body?: string | Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const url = new URL(base);
    const chunked = Object.keys(headers).some((k) => k.toLowerCase() === "transfer-encoding");
    const req = http.request({
      host: url.hostname, port: url.port, method, path, agent,
      headers: { ...headers, ...(body !== undefined && !chunked ? { "Content-Length": String(Buffer.byteLength(body)) } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve(toReply(res.statusCode ?? 0, res.headers, Buffer.concat(chunks))));
      res.on("error", reject);
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** An answer as the tests read it, from its status, Node-style headers and body bytes. */
export function toReply(status: number, headers: Record<string, string | string[] | number | undefined>, bytes: Buffer): Reply {
  const h = new Headers();
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(", ") : String(v));
  const text = bytes.toString("utf8");
  let json: Record<string, unknown> | null = null;
  try { json = text ? (JSON.parse(text) as Record<string, unknown>) : null; } catch { json = null; }
  return { status, headers: h, bytes, text, json };
}

/** Closes the shared keep-alive sockets (call in afterAll so jest can exit). */
export function closeHttpAgent(): void {
  agent.destroy();
}
