// An HTTP proxy on 127.0.0.1 that forwards every request to a target server and then, for a chosen
// fraction of them, throws the response away by destroying the client's socket: the request took
// effect on the server, but the client never learns the outcome (a "lost response").
import { startHookProxy, type ProxiedRequest, type ProxyTarget } from "./hook-proxy.js";

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

export interface LossyOptions {
  /** Only these requests' answers may be lost (default: every request's); the others are not counted. */
  readonly lossy?: (req: ProxiedRequest) => boolean;
}

export async function startLossyProxy(target: ProxyTarget, dropRate: number, random: () => number = Math.random, options: LossyOptions = {}): Promise<LossyProxy> {
  const stats = { forwarded: 0, dropped: 0, droppedByMethod: {} as Record<string, number> };
  const proxy = await startHookProxy(target, {
    beforeRespond(req) {
      if (options.lossy && !options.lossy(req)) return;
      stats.forwarded++;
      if (random() >= dropRate) return;
      stats.dropped++;
      stats.droppedByMethod[req.method] = (stats.droppedByMethod[req.method] ?? 0) + 1;
      return "drop";
    },
  });
  return { url: proxy.url, stats, close: () => proxy.close() };
}
