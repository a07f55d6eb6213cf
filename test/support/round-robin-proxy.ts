// A minimal load balancer on 127.0.0.1: each request goes to the next target in turn (no stickiness),
// so consecutive requests of one rendezvous session land on different server instances.
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface RoundRobinProxy {
  readonly url: string;
  /** Requests forwarded to each target, in target order. */
  readonly counts: number[];
  close(): Promise<void>;
}

/** `port`: listen there (default: a free one), for backends that must name the balancer's URL. */
export async function startRoundRobinProxy(targets: string[], port = 0): Promise<RoundRobinProxy> {
  const counts = targets.map(() => 0);
  let next = 0;
  const server = http.createServer((req, res) => {
    const index = next++ % targets.length;
    counts[index]!++;
    const target = new URL(req.url ?? "/", targets[index]);
    const headers = { ...req.headers, host: target.host };
    const upstream = http.request(target, { method: req.method, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${bound}`,
    counts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
