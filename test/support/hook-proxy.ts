// An HTTP proxy on 127.0.0.1 that forwards every request to a target server and lets a test decide,
// per request, when it is forwarded and when its answer is delivered. Used to replay client races
// deterministically (an answer computed early but delivered late), or to lose answers (lossy-proxy.ts).
// The target may depend on the request (a homeserver whose rendezvous paths are served elsewhere).
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface ProxiedRequest {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
}

export interface ProxyHooks {
  /** Awaited before the request goes upstream. */
  beforeForward?(req: ProxiedRequest): Promise<void> | void;
  /**
   * Awaited after upstream answered with `status`, before the client gets the answer. "drop" throws the
   * answer away by destroying the client's socket: the request took effect, the client never learns it.
   */
  beforeRespond?(req: ProxiedRequest, status: number): Promise<void | "drop"> | void | "drop";
  /** Called once the answer has been written to the client. */
  responded?(req: ProxiedRequest, status: number): void;
}

export interface HookProxy {
  readonly url: string;
  close(): Promise<void>;
}

const HOP_BY_HOP = ["host", "connection", "content-length", "keep-alive", "transfer-encoding", "content-encoding"];

/** Where a request goes: one server, or one chosen per request (e.g. by path). */
export type ProxyTarget = string | ((req: ProxiedRequest) => string);

export async function startHookProxy(target: ProxyTarget, hooks: ProxyHooks): Promise<HookProxy> {
  const baseFor = (req: ProxiedRequest): string => (typeof target === "string" ? target : target(req)).replace(/\/+$/, "");
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        const url = req.url ?? "/";
        const info: ProxiedRequest = { method: req.method ?? "GET", path: url.split("?")[0]! };
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string" && !HOP_BY_HOP.includes(k)) headers[k] = v;
        try {
          await hooks.beforeForward?.(info);
          const upstream = await fetch(baseFor(info) + url, { method: info.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
          const body = Buffer.from(await upstream.arrayBuffer());
          if ((await hooks.beforeRespond?.(info, upstream.status)) === "drop") {
            req.socket.destroy();
            return;
          }
          const out: Record<string, string> = {};
          upstream.headers.forEach((v, k) => {
            if (!HOP_BY_HOP.includes(k)) out[k] = v;
          });
          res.writeHead(upstream.status, out).end(body);
          hooks.responded?.(info, upstream.status);
        } catch {
          if (!res.headersSent) res.writeHead(502).end();
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
