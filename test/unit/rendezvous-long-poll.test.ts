// The registry of held long-poll GETs (server/rendezvous/long-poll.ts) on its own: caps, a wake-up
// that arrives while the route is still reading the store, deadlines in order, expiry before the
// bound, releases, and closing.
import { describe, expect, test } from "@jest/globals";
import type { WakeReason } from "../../server/rendezvous/long-poll.js";
import { Held, HeldRequests } from "../../server/rendezvous/long-poll.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A route stand-in: records rechecks; answers (releases), or keeps holding on a change if told to. */
class TestHeld extends Held {
  readonly seen: WakeReason[] = [];
  constructor(private readonly reg: HeldRequests, id: string, ip: string, private readonly keepOnChange: boolean, private readonly log?: string[]) {
    super(id, ip);
  }
  recheck(reason: WakeReason): void {
    this.seen.push(reason);
    this.log?.push(`${this.key}:${reason}`);
    if (reason === "changed" && this.keepOnChange) this.reg.arm(this, 60_000);
    else this.reg.release(this, reason === "changed" ? "changed" : reason === "closing" ? "closing" : "bound");
  }
}

function holder(reg: HeldRequests, id: string, ip = "192.0.2.1", keepOnChange = false) {
  const t = new TestHeld(reg, id, ip, keepOnChange);
  return { h: reg.hold(t) ? t : null, seen: t.seen };
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
    reg.wake("s1"); // the write lands while the route still reads the store
    expect(x.seen).toEqual([]);
    reg.arm(x.h!, 60_000);
    expect(x.seen).toEqual(["changed"]);
    expect(reg.stats.held).toBe(0);
  });

  test("two waiters on one session both wake; releasing one leaves the other", () => {
    const reg = new HeldRequests(10_000, 0, 0);
    const a = holder(reg, "s1", "192.0.2.1", true);
    const b = holder(reg, "s1", "192.0.2.2", true);
    reg.arm(a.h!, 60_000);
    reg.arm(b.h!, 60_000);
    reg.wake("s1");
    expect([a.seen, b.seen]).toEqual([["changed"], ["changed"]]);
    reg.release(a.h!, "client_closed");
    reg.wake("s1");
    expect([a.seen, b.seen]).toEqual([["changed"], ["changed", "changed"]]);
    expect(reg.stats.held).toBe(1);
  });

  test("wake() reaches only the session's own waiters; spurious wake-ups can keep holding", () => {
    const reg = new HeldRequests(10_000, 0, 0);
    const mine = holder(reg, "s1", "192.0.2.1", true);
    const other = holder(reg, "s2");
    reg.arm(mine.h!, 60_000);
    reg.arm(other.h!, 60_000);
    reg.wake("s9");
    reg.wake("s1");
    reg.wake("s1");
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
      const h = new TestHeld(reg, name, "192.0.2.1", false, order);
      expect(reg.hold(h)).toBe(true);
      reg.arm(h, expiresInMs);
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
    reg.wake("s1");
    await sleep(80);
    expect(x.seen).toEqual([]);
  });
});
