// A long-poll GET on either API: hold it while the session is as the client already has it, and
// answer exactly as a normal GET would once that is no longer so (changed, gone), at the bound, or
// when the server closes. Registration comes before the first read, so no write can slip between
// them unseen; a client that goes away is released at once.
import type { FastifyReply, FastifyRequest } from "fastify";
import { storeDown } from "./http-common.js";
import type { Held, HeldRequests, WakeReason } from "./long-poll.js";
import type { RendezvousApi, StoredSession } from "./store.js";

export interface HeldGet {
  readonly api: RendezvousApi;
  readonly id: string;
  /** Reads the session (synchronously for the memory store). */
  read(): StoredSession | null | Promise<StoredSession | null>;
  /** Whether the session is still what the client has (then the request keeps waiting). */
  unchanged(s: StoredSession): boolean;
  /** Sends the normal GET answer for this state (may throw a Matrix error, which is sent instead). */
  answer(s: StoredSession | null, t: number): void;
}

function then<T>(value: T | Promise<T>, f: (v: T) => void, fail: (err: unknown) => void): void {
  if (value instanceof Promise) value.then(f, fail);
  else f(value);
}

export function holdGet(held: HeldRequests, req: FastifyRequest, reply: FastifyReply, now: () => number, g: HeldGet): FastifyReply {
  const fail = (err: unknown) => {
    if (reply.sent) return;
    try { storeDown(req)(err); } catch (e) { reply.send(e as Error); }
  };
  const send = (s: StoredSession | null, t: number) => {
    try { g.answer(s, t); } catch (err) { reply.send(err as Error); }
  };
  let h: Held | null = null;
  const recheck = (reason: WakeReason) => then(g.read(), (s) => {
    if (h!.released) return;
    const t = now();
    if (!s) { held.release(h!, "gone"); send(null, t); return; }
    if (!g.unchanged(s)) { held.release(h!, "changed"); send(s, t); return; }
    if (reason === "closing" || held.boundPassed(h!)) { held.release(h!, reason === "closing" ? "closing" : "bound"); send(s, t); return; }
    held.arm(h!, s.expiresAt - t);
  }, (err) => { held.release(h!, "gone"); fail(err); });
  h = held.hold(g.api, g.id, req.ip, recheck);
  if (!h) {
    // At a cap (or closing): answer at once, as a normal GET.
    then(g.read(), (s) => send(s, now()), fail);
    return reply;
  }
  const mine = h;
  reply.raw.once("close", () => { if (!mine.released) held.release(mine, "client_closed"); });
  then(g.read(), (s) => {
    if (mine.released) return;
    const t = now();
    if (!s || !g.unchanged(s)) { held.release(mine, "immediate"); send(s, t); return; }
    held.arm(mine, s.expiresAt - t);
  }, (err) => { held.release(mine, "immediate"); fail(err); });
  return reply;
}
