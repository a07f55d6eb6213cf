// The registry of held long-poll GETs (server/rendezvous/long-poll.ts) on its own: caps, a wake-up
// that arrives while the route is still reading the store, deadlines in order, expiry before the
// bound, releases, and closing.
import { describe, expect, test } from "@jest/globals";
import type { Held, WakeReason } from "../../server/rendezvous/long-poll.js";
import { HeldRequests } from "../../server/rendezvous/long-poll.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A route stand-in: records rechecks, answers (releases) on anything but a plain change. */
function holder(reg: HeldRequests, id: string, ip = "192.0.2.1", keepOnChange = false) {
  const seen: WakeReason[] = [];
  let h: Held | null = null;
  h = reg.hold("2025", id, ip, (reason) => {
    seen.push(reason);
    if (reason === "changed" && keepOnChange) reg.arm(h!, 60_000);
    else reg.release(h!, reason === "changed" ? "changed" : reason === "closing" ? "closing" : "bound");
  });
  return { h, seen };
}

describe("HeldRequests", () => {
  test("caps per IP and in total: hold() says no, and counts the refusal", () => {
    const reg = new HeldRequests(10_000, 3, 2);
    const a = holder(reg, "s1", "192.0.2.1");
    const b = holder(reg, "s1", "192.0.2.1");
    expect(holder(reg, "s1", "192.0.2.1").h).toBeNull();
    const c = holder(reg, "s2", "198.51.100.1");
    expect(holder(reg, "s3", "198.51.100.2").h).toBeNull();
    expect(reg.stats).toMatchObject({ held: 3, refused: 2 });
    for (const x of [a, b, c]) reg.release(x.h!, "client_closed");
    expect(reg.stats).toMatchObject({ held: 0, outcomes: { client_closed: 3 } });
    expect(holder(reg, "s1", "192.0.2.1").h).not.toBeNull();
  });

  test("a wake-up that comes before the route armed is delivered when it arms, not lost", () => {
    const reg = new HeldRequests(10_000, 0, 0);
    const x = holder(reg, "s1");
    reg.wake("2025", "s1"); // the write lands while the route still reads the store
    expect(x.seen).toEqual([]);
    reg.arm(x.h!, 60_000);
    expect(x.seen).toEqual(["changed"]);
    expect(reg.stats.held).toBe(0);
  });

  test("wake() reaches only the session's own waiters, of that API; spurious wake-ups can keep holding", () => {
    const reg = new HeldRequests(10_000, 0, 0);
    const mine = holder(reg, "s1", "192.0.2.1", true);
    const other = holder(reg, "s2");
    reg.arm(mine.h!, 60_000);
    reg.arm(other.h!, 60_000);
    reg.wake("2024", "s1");
    reg.wake("2025", "s1");
    reg.wake("2025", "s1");
    expect(mine.seen).toEqual(["changed", "changed"]);
    expect(other.seen).toEqual([]);
    expect(reg.stats.held).toBe(2);
    reg.wakeAll();
    expect(other.seen).toEqual(["changed"]);
    reg.closeAll();
    expect(mine.seen.at(-1)).toBe("closing");
    expect(reg.stats.held).toBe(0);
    expect(holder(reg, "s3").h).toBeNull(); // closing: nobody new is held
  });

  test("deadlines: each request at its own bound, in order; a session expiring earlier wakes first", async () => {
    const reg = new HeldRequests(120, 0, 0);
    const order: string[] = [];
    const make = (name: string, expiresInMs: number) => {
      let h: Held | null = null;
      h = reg.hold("2025", name, "192.0.2.1", (reason) => { order.push(`${name}:${reason}`); reg.release(h!, "bound"); });
      reg.arm(h!, expiresInMs);
    };
    make("a", 60_000);
    await sleep(40);
    make("b", 60_000);
    make("c", 20); // expires before its bound
    await sleep(300);
    expect(order).toEqual(["c:deadline", "a:deadline", "b:deadline"]);
    expect(reg.stats.held).toBe(0);
  });

  test("a released request is never called back", async () => {
    const reg = new HeldRequests(30, 0, 0);
    const x = holder(reg, "s1");
    reg.arm(x.h!, 10);
    reg.release(x.h!, "client_closed");
    reg.wake("2025", "s1");
    await sleep(80);
    expect(x.seen).toEqual([]);
  });
});
