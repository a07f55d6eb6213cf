// Requests to a fastify app without a socket (fastify's `inject`), for tests of route logic, where a
// socket adds nothing; answered as httpRequest (http.ts) answers, so a test reads both alike. What is
// about sockets (timeouts, connection caps, pipelining, proxies, held requests across processes)
// keeps a listening server.
import type { Readable } from "node:stream";
import type { FastifyInstance, HTTPMethods } from "fastify";
import type { Reply } from "./http.js";
import { toReply } from "./http.js";

/**
 * One request, as httpRequest sends it: a header given as an array is that many header lines, a body
 * gets its Content-Length, and a stream goes out chunked (give it a Transfer-Encoding header).
 */
export async function injectRequest(app: FastifyInstance, method: string, path: string, headers: Record<string, string | string[]> = {}, body?: string | Buffer | Readable): Promise<Reply> {
  const sized = typeof body === "string" || Buffer.isBuffer(body);
  const res = await app.inject({
    method: method as HTTPMethods,
    url: path,
    // An empty body still says Content-Length: 0, as over a socket (inject leaves it out).
    headers: { ...headers, ...(sized ? { "content-length": String(Buffer.byteLength(body)) } : {}) },
    ...(body !== undefined ? { payload: body } : {}),
  });
  return toReply(res.statusCode, res.headers, res.rawPayload);
}
