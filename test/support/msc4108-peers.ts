// matrix-js-sdk's own 2024 rendezvous transport (MSC4108RendezvousSession, what Element Web runs)
// as the two peers of a test: a creator that POSTs, a joiner that gets the URL (from a QR in real
// life), and the strict alternation MSC4108SignInWithQR drives them in. A recording fetch keeps
// every answer's status and headers, so tests can check what the SDK saw.
import { expect } from "@jest/globals";
import type { MatrixClient } from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { MSC4108RendezvousSession } from "matrix-js-sdk/lib/rendezvous/transports/MSC4108RendezvousSession.js";
import type { RendezvousFailureReason } from "matrix-js-sdk/lib/rendezvous/index.js";

// The SDK logs every request at info level; its logger is a loglevel instance underneath.
(logger as unknown as { setLevel(level: string): void }).setLevel("warn");

export interface Seen {
  method: string;
  url: string;
  status: number;
  etag: string | null;
  contentType: string | null;
  /** Whether fetch followed a redirect to get this answer. */
  redirected: boolean;
}

/** globalThis.fetch that records every answer the SDK gets. */
export function recordingFetch(seen: Seen[]): typeof globalThis.fetch {
  return async (input, init) => {
    const res = await globalThis.fetch(input, init);
    seen.push({
      method: init?.method ?? "GET", url: res.url || String(input), status: res.status,
      etag: res.headers.get("etag"), contentType: res.headers.get("content-type"), redirected: res.redirected,
    });
    return res;
  };
}

export interface Peers {
  creator: MSC4108RendezvousSession;
  joiner: MSC4108RendezvousSession;
  failures: RendezvousFailureReason[];
  seen: Seen[];
}

/** The creator POSTs (send("") as MSC4108SignInWithQR does) and the joiner gets its URL. */
export async function connectPeers(where: { fallbackRzServer: string } | { client: MatrixClient }): Promise<Peers> {
  const seen: Seen[] = [];
  const failures: RendezvousFailureReason[] = [];
  const fetchFn = recordingFetch(seen);
  const onFailure = (reason: RendezvousFailureReason) => { failures.push(reason); };
  const creator = new MSC4108RendezvousSession({ ...where, fetchFn, onFailure });
  await creator.send("");
  expect(creator.ready).toBe(true);
  expect(typeof creator.url).toBe("string");
  const joiner = new MSC4108RendezvousSession({ url: creator.url!, fetchFn, onFailure });
  return { creator, joiner, failures, seen };
}

/**
 * Rounds of joiner → creator, creator → joiner (the scanning device speaks first). Odd rounds start
 * the receiver before the sender writes, so it polls with If-None-Match, gets 304s and waits its
 * 1 s between polls, as Element does; even rounds find the message at the first poll.
 */
export async function pingPong(p: Peers, rounds: number, from = 0): Promise<void> {
  for (let i = from; i < from + rounds; i++) {
    const fromJoiner = `joiner → creator #${i} ${"é".repeat(i)}`;
    const fromCreator = `creator → joiner #${i} {"json":true}`;
    if (i % 2 === 1) {
      const [got] = await Promise.all([p.creator.receive(), later(() => p.joiner.send(fromJoiner))]);
      expect(got).toBe(fromJoiner);
      const [got2] = await Promise.all([p.joiner.receive(), later(() => p.creator.send(fromCreator))]);
      expect(got2).toBe(fromCreator);
    } else {
      await p.joiner.send(fromJoiner);
      expect(await p.creator.receive()).toBe(fromJoiner);
      await p.creator.send(fromCreator);
      expect(await p.joiner.receive()).toBe(fromCreator);
    }
  }
  expect(p.failures).toEqual([]);
}

function later(f: () => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => setTimeout(() => f().then(resolve, reject), 300));
}

/** What every exchange must have shown the SDK: strong ETags only, payloads as exactly text/plain. */
export function expectCleanWire(seen: readonly Seen[]): void {
  for (const s of seen) {
    if (s.etag !== null) expect([s.method, s.status, s.etag]).toEqual([s.method, s.status, expect.stringMatching(/^"[\x21\x23-\x7e]+"$/)]);
    if (s.method === "GET" && s.status === 200) expect(s.contentType).toBe("text/plain");
  }
  // The 304 path was used (the odd rounds), and no write was refused.
  expect(seen.some((s) => s.status === 304)).toBe(true);
  expect(seen.filter((s) => s.status === 412)).toEqual([]);
}
