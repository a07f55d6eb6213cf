// Minimal HTTP client for black-box tests. node:http rather than fetch: fetch (undici) sets its own
// Sec-Fetch-Mode and similar headers, and tests must send exactly the headers a case names.
import http from "node:http";

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown> | null;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

export function httpRequest(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const url = new URL(base);
    const req = http.request({
      host: url.hostname, port: url.port, method, path, agent,
      headers: { ...headers, ...(body !== undefined ? { "Content-Length": String(Buffer.byteLength(body)) } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(", ") : v);
        let json: Record<string, unknown> | null = null;
        try { json = text ? (JSON.parse(text) as Record<string, unknown>) : null; } catch { json = null; }
        resolve({ status: res.statusCode ?? 0, headers: h, text, json });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Closes the shared keep-alive sockets (call in afterAll so jest can exit). */
export function closeHttpAgent(): void {
  agent.destroy();
}
