// The standalone server's HTTP server, with its connection-level defences (a host app that mounts
// the plugin owns its HTTP server and these choices). Against clients that tie the server up
// without ever finishing:
//   - time to receive a request: Node's headersTimeout and requestTimeout end a request whose
//     headers and body have not all arrived within the bound, however slowly they trickle in (the
//     socket idle timeout would not: a byte every few seconds keeps it busy); Node measures both from
//     the request's first byte, and a connection that sends nothing at all from when it opened. A held
//     long-poll GET has been received in full, so these bounds no longer apply to it;
//   - connections per client (IPv6: per /64), except from trusted proxies, which carry many clients;
//   - pipelined requests not yet answered per connection: Node parses and dispatches every request
//     in what it reads (64 KiB at a time, hundreds of small requests), and answers each into memory
//     until the earlier answers have been sent, so a client that pipelines thousands of requests and
//     never reads the answers makes the server hold them all (20 such connections took 200 MiB). A
//     connection with more unanswered requests than any real client has (browsers and Node's fetch
//     do not pipeline at all) is closed, and the requests it still had in the pipe are dropped before
//     they reach the routes. That is why this wraps fastify's request handler (fastify's
//     serverFactory) rather than listening beside it.
// The answers to a refused connection or a timed-out request are written as raw HTTP: no request
// object exists for them.
import http from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { clientKey } from "./client-key.js";
import type { RendezvousMetrics } from "./metrics.js";

export interface ConnectionLimits {
  /** Open connections per client (IPv4 address, IPv6 /64). 0 = no cap. */
  maxConnectionsPerIp: number;
  /** Requests a connection may have sent and not yet been answered (pipelining); beyond it the connection is closed. 0 = no cap. */
  maxPipelined: number;
}

export const DEFAULT_CONNECTION_LIMITS: Readonly<ConnectionLimits> = { maxConnectionsPerIp: 200, maxPipelined: 16 };

/** How long a connection ended with an error answer may stay for the client to read it. */
const LINGER_MS = 1000;

const UNANSWERED = Symbol("qr-login.rendezvous.unanswered");
type CountedSocket = Socket & { [UNANSWERED]?: number };

/** One more request on the connection; false (and the connection closed) when that is more than it may have unanswered. */
function admit(req: IncomingMessage, res: ServerResponse, maxPipelined: number, metrics: RendezvousMetrics | undefined): boolean {
  const socket = req.socket as CountedSocket;
  if (socket.destroyed) return false;
  const n = (socket[UNANSWERED] ?? 0) + 1;
  if (n > maxPipelined) {
    if (metrics) metrics.connectionsClosed.pipelining++;
    socket.destroy();
    return false;
  }
  socket[UNANSWERED] = n;
  res.on("close", onResponseClose);
  return true;
}

/** A response was handed to the connection in full (or the connection went away). */
function onResponseClose(this: ServerResponse): void {
  const socket = this.req.socket as CountedSocket;
  socket[UNANSWERED] = (socket[UNANSWERED] ?? 1) - 1;
}

export interface GuardedServerOptions extends ConnectionLimits {
  /** Bound on receiving a request, headers and body; 0 = none. */
  requestTimeoutMs: number;
  /** Idle time after which a kept-alive connection is closed. */
  keepAliveTimeoutMs: number;
  /** Peers whose connections the per-client cap does not count. */
  trustedPeer: (address: string) => boolean;
  metrics?: RendezvousMetrics;
}

/**
 * How often Node looks for requests past their bound (its default, 30 s, would let a request take up
 * to 30 s longer than the bound). It looks only at connections with a request under way.
 */
const TIMEOUT_CHECK_INTERVAL_MS = 1000;

/** An HTTP server for fastify's serverFactory: `handler` is fastify's request handler. */
export function createGuardedServer(handler: (req: IncomingMessage, res: ServerResponse) => void, opts: GuardedServerOptions): Server {
  const { maxPipelined, metrics } = opts;
  const server = http.createServer({
    headersTimeout: opts.requestTimeoutMs,
    requestTimeout: opts.requestTimeoutMs,
    keepAliveTimeout: opts.keepAliveTimeoutMs,
    connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
  }, maxPipelined > 0 ? (req, res) => { if (admit(req, res, maxPipelined, metrics)) handler(req, res); } : handler);
  capConnections(server, opts);
  return server;
}

function capConnections(server: Server, { maxConnectionsPerIp, trustedPeer, metrics }: GuardedServerOptions): void {
  if (maxConnectionsPerIp > 0) {
    const open = new Map<string, number>();
    server.on("connection", (socket: Socket) => {
      const address = socket.remoteAddress;
      if (address === undefined || trustedPeer(address)) return;
      const key = clientKey(address);
      const n = open.get(key) ?? 0;
      if (n >= maxConnectionsPerIp) {
        if (metrics) metrics.connectionsRefused++;
        endWithError(socket, 429, "Too Many Requests", { errcode: "M_LIMIT_EXCEEDED", error: "Too many connections from this address", retry_after_ms: 1000 }, { "Retry-After": "1" });
        return;
      }
      open.set(key, n + 1);
      socket.once("close", () => {
        const left = (open.get(key) ?? 1) - 1;
        if (left > 0) open.set(key, left);
        else open.delete(key);
      });
    });
  }
}

/**
 * Answers on a bare connection with a Matrix error and `Connection: close`, unless an answer is
 * already under way on it, and closes it: at once when the client's request may still be arriving
 * (the answer then usually reaches the client anyway: it is written before the close), otherwise
 * after a short linger so that the client can read it.
 */
export function endWithError(socket: Socket, status: number, reason: string, body: Record<string, unknown>, headers: Record<string, string> = {}, closeNow = false): void {
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const text = JSON.stringify(body);
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    socket.write(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n` +
      `Access-Control-Allow-Origin: *\r\nCache-Control: no-store, no-transform\r\n${extra}Connection: close\r\n\r\n${text}`);
  }
  if (closeNow) {
    socket.destroy();
    return;
  }
  socket.end();
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}
