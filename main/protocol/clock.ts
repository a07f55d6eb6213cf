// The rendezvous client's time: a monotonic clock, never the wall clock (expiry is kept from the
// server's relative `expires_in_ms`; absolute times break with clock skew, matrix-js-sdk#5141), which
// tests replace with a virtual one; and the one way a wait ends early, a typed `cancelled`.
// (No `node:timers/promises` here: the core runs unchanged in Chromium.)
import { RendezvousError } from "./rendezvous-errors.js";

/** A monotonic clock: `now()` never jumps with the wall clock; `sleep` rejects when the signal aborts. */
export interface MonotonicClock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The typed error of a request or wait given up through its signal. */
export function cancelledBy(signal: AbortSignal): RendezvousError {
  return new RendezvousError("cancelled", "cancelled", { cause: signal.reason });
}

export const systemClock: MonotonicClock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(cancelledBy(signal));
      const onAbort = () => {
        clearTimeout(timer);
        reject(cancelledBy(signal!));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, Math.max(0, ms));
      signal?.addEventListener("abort", onAbort, { once: true });
    }),
};

/** Sleep on `clock`; an abort always surfaces as a typed `cancelled`, whatever the clock rejects with. */
export async function sleepOn(clock: MonotonicClock, ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await clock.sleep(ms, signal);
  } catch (err) {
    if (signal?.aborted) throw cancelledBy(signal);
    throw err;
  }
}
