// A long-poll GET on either API: hold it while the session is as the client already has it, and
// answer exactly as a normal GET would once that is no longer so (changed, gone), at the bound, or
// when the server closes. Registration comes before the first read, so no write can slip between
// them unseen; a client that goes away is released at once.
//
// What a route knows once (how to read, compare and answer) is a HeldGetRoute, shared by all its
// requests; each held request is one HeldGet object, and the route handler returns undefined
// (returning the reply would make fastify wait on it through a stream-finished watcher per request).
import type { FastifyReply, FastifyRequest } from "fastify";
import type { ServerResponse } from "node:http";
import { clientKey } from "./client-key.js";
import { storeDown } from "./http-common.js";
import type { HeldRequests, WakeReason } from "./long-poll.js";
import { Held } from "./long-poll.js";
import type { StoredSession } from "./store.js";

export interface HeldGetRoute {
  readonly held: HeldRequests;
  readonly now: () => number;
  /** Reads the session (synchronously for the memory store). */
  read(id: string): StoredSession | null | Promise<StoredSession | null>;
  /** Whether the session is still what the client has, `want` (then the request keeps waiting). */
  unchanged(s: StoredSession, want: string | string[]): boolean;
  /** Sends the normal GET answer for this state (may throw a Matrix error, which is sent instead). */
  answer(req: FastifyRequest, reply: FastifyReply, s: StoredSession | null, t: number): void;
}

/** The held request of each response, for the one shared 'close' listener. */
const byResponse = new WeakMap<ServerResponse, HeldGet>();

function onResponseClose(this: ServerResponse): void {
  const h = byResponse.get(this);
  if (h && !h.released) h.route.held.release(h, "client_closed");
}

class HeldGet extends Held {
  constructor(
    readonly route: HeldGetRoute,
    readonly req: FastifyRequest,
    readonly reply: FastifyReply,
    id: string,
    readonly want: string | string[],
  ) {
    super(id, clientKey(req.ip));
  }

  /** The first read, right after hold(). */
  start(): void {
    settle(this.route.read(this.key), (s) => {
      if (this.released) return;
      const t = this.route.now();
      if (!s || !this.route.unchanged(s, this.want)) { this.finish("immediate", s, t); return; }
      this.route.held.arm(this, s.expiresAt - t);
    }, (err) => this.fail(err));
  }

  recheck(reason: WakeReason): void {
    settle(this.route.read(this.key), (s) => {
      if (this.released) return;
      const t = this.route.now();
      if (!s) this.finish("gone", null, t);
      else if (!this.route.unchanged(s, this.want)) this.finish("changed", s, t);
      else if (reason === "closing") this.finish("closing", s, t);
      else if (this.route.held.boundPassed(this)) this.finish("bound", s, t);
      else this.route.held.arm(this, s.expiresAt - t);
    }, (err) => this.fail(err));
  }

  private finish(outcome: "immediate" | "changed" | "gone" | "closing" | "bound", s: StoredSession | null, t: number): void {
    this.route.held.release(this, outcome);
    answerOrError(this.route, this.req, this.reply, s, t);
  }

  private fail(err: unknown): void {
    this.route.held.release(this, "error");
    sendStoreDown(this.req, this.reply, err);
  }
}

function settle<T>(value: T | Promise<T>, f: (v: T) => void, fail: (err: unknown) => void): void {
  if (value instanceof Promise) value.then(f, fail);
  else f(value);
}

function answerOrError(route: HeldGetRoute, req: FastifyRequest, reply: FastifyReply, s: StoredSession | null, t: number): void {
  try { route.answer(req, reply, s, t); } catch (err) { reply.send(err as Error); }
}

function sendStoreDown(req: FastifyRequest, reply: FastifyReply, err: unknown): void {
  if (reply.sent) return;
  try { storeDown(req)(err); } catch (e) { reply.send(e as Error); }
}

/** Handles a long-poll GET: held, or (at a cap, or closing) answered at once. Returns undefined. */
export function holdGet(route: HeldGetRoute, req: FastifyRequest, reply: FastifyReply, id: string, want: string | string[]): undefined {
  const h = new HeldGet(route, req, reply, id, want);
  if (!route.held.hold(h)) {
    settle(route.read(id), (s) => answerOrError(route, req, reply, s, route.now()), (err) => sendStoreDown(req, reply, err));
    return undefined;
  }
  byResponse.set(reply.raw, h);
  reply.raw.on("close", onResponseClose);
  h.start();
  return undefined;
}
