// An HTTP proxy on 127.0.0.1 that forwards every request to a target server and then, for a chosen
// fraction of them, throws the response away by destroying the client's socket: the request took
// effect on the server, but the client never learns the outcome (a "lost response").
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface LossyProxy {
  readonly url: string;
  readonly stats: { forwarded: number; dropped: number; droppedByMethod: Record<string, number> };
  close(): Promise<void>;
}

/** Deterministic PRNG (mulberry32) so a failing run can be replayed with the same seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function startLossyProxy(target: string, dropRate: number, random: () => number = Math.random): Promise<LossyProxy> {
  const stats = { forwarded: 0, dropped: 0, droppedByMethod: {} as Record<string, number> };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        const body = chunks.length ? Buffer.concat(chunks) : undefined;
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) {
          if (typeof v === "string" && !["host", "connection", "content-length", "keep-alive"].includes(k)) headers[k] = v;
        }
        try {
          const upstream = await fetch(target + (req.url ?? "/"), { method: req.method ?? "GET", headers, body });
          const text = await upstream.text();
          stats.forwarded++;
          if (random() < dropRate) {
            stats.dropped++;
            const m = req.method ?? "GET";
            stats.droppedByMethod[m] = (stats.droppedByMethod[m] ?? 0) + 1;
            req.socket.destroy();
            return;
          }
          const out: Record<string, string> = {};
          upstream.headers.forEach((v, k) => {
            if (!["content-length", "connection", "keep-alive", "transfer-encoding", "content-encoding"].includes(k)) out[k] = v;
          });
          res.writeHead(upstream.status, out).end(text);
        } catch {
          res.writeHead(502).end();
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
