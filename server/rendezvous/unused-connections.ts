// Closing the server must not wait for a connection that never carried a request.
//
// Node's fetch (undici) opens a fresh connection right after it aborts an in-flight request and then
// leaves it unused (https://github.com/nodejs/undici/issues/5845). Clients that long-poll abort
// in-flight GETs whenever they stop waiting (cancel, local expiry), so such connections are common.
// http.Server.close() waits for every connection, and closeIdleConnections() only ends connections
// that are idle *between* requests, not ones that never sent one: without this, close() hangs until the
// client process goes away. Nothing is in flight on such a connection, so ending it loses nothing.
import type { Socket } from "node:net";
import type { FastifyInstance } from "fastify";

const INSTALLED = Symbol.for("qr-login.rendezvous.drop-unused-connections");

export function dropUnusedConnectionsOnClose(app: FastifyInstance): void {
  const server = app.server as typeof app.server & { [INSTALLED]?: true };
  if (server[INSTALLED]) return;
  server[INSTALLED] = true;
  const unused = new Set<Socket>();
  let closing = false;
  server.on("connection", (socket: Socket) => {
    if (closing) {
      socket.destroy();
      return;
    }
    unused.add(socket);
    socket.once("close", () => unused.delete(socket));
  });
  server.on("request", (req: { socket: Socket }) => unused.delete(req.socket));
  app.addHook("preClose", (done) => {
    closing = true;
    for (const socket of unused) socket.destroy();
    done();
  });
}
