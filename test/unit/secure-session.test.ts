// The secure session (channel + transport) on the in-memory rendezvous server and a virtual clock:
// the token rule on the wire, lost responses, cancellation, a failed open, expiry, intent checks.
import { describe, expect, test } from "@jest/globals";
import { GeneratorChannel, ScannerChannel } from "../../main/protocol/channel.js";
import { getProfile } from "../../main/protocol/profile.js";
import { decodeQr, encodeQr } from "../../main/protocol/qr.js";
import { PendingGenerator, SecureConversation } from "../../main/protocol/conversation.js";
import { RendezvousClient } from "../../main/protocol/rendezvous.js";
import { connectScanner, startGenerator } from "../../main/protocol/secure-session.js";
import { TOKEN_ECHO_OFFER } from "../../main/protocol/token-echo.js";
import { FakeRendezvousServer, VirtualClock, type FakeLongPoll } from "../support/fake-rendezvous.js";
import { seededRandom } from "../support/lossy-proxy.js";
import { protocolRejection as rejectionOf } from "../support/protocol-error-code.js";

const PROFILES = ["element-2026", "msc4388"] as const;

function setup(ttlMs?: number, longPoll?: FakeLongPoll) {
  const clock = new VirtualClock();
  const server = new FakeRendezvousServer(clock, { ...(ttlMs ? { ttlMs } : {}), ...(longPoll ? { longPoll } : {}) });
  return { clock, server, transport: { fetch: server.fetch, clock } };
}

async function connected(profile: string, env = setup()) {
  const pending = await startGenerator({ rendezvousUrl: env.server.origin, intent: "login", profile, ...env.transport });
  const [unconfirmed, scanner] = await Promise.all([pending.waitForScanner(), connectScanner(pending.qr, { profile, ...env.transport })]);
  const g = await unconfirmed.confirm(scanner.checkCode);
  return { ...env, pending, g, s: scanner.conversation, checkCode: scanner.checkCode };
}

describe.each(PROFILES)("profile %s", (profile) => {
  test("handshake and messages; every PUT carries the token of the previous write", async () => {
    const { server, g, s } = await connected(profile);
    for (let i = 0; i < 3; i++) {
      await s.send({ type: "echo", i });
      await expect(g.receive()).resolves.toEqual({ type: "echo", i });
      await g.send({ type: "echo", reply: i });
      await expect(s.receive()).resolves.toEqual({ type: "echo", reply: i });
    }
    // POST → T1; each PUT's sequence_token is the token the previous write (POST or PUT) returned
    const writes = server.log.filter((r) => r.method === "PUT");
    expect(writes).toHaveLength(2 + 6); // LoginInitiate, LoginOk, 6 messages
    const tokens = writes.map((w) => w.body!["sequence_token"]);
    expect(new Set(tokens).size).toBe(tokens.length);
    expect(tokens[0]).toBe("tok1");
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]).toBe(`tok${i + 1}`);
  });
});

describe("the token echo between two qr-login devices (docs/protocol.md \"Lost answers\")", () => {
  test("the generator offers it in the initial payload; from LoginInitiate on, every payload ends in '.' and its AAD token", async () => {
    const { server } = await connected("element-2026");
    expect(server.log.find((r) => r.method === "POST")!.body!["data"]).toBe(TOKEN_ECHO_OFFER);
    const puts = server.log.filter((r) => r.method === "PUT");
    expect(puts).toHaveLength(2);
    for (const put of puts) expect(String(put.body!["data"])).toBe(`${String(put.body!["data"]).split(".")[0]}.${String(put.body!["sequence_token"])}`);
  });

  test("with another implementation on either side, the payloads stay plain MSC4388", async () => {
    const profile = getProfile("element-2026");
    // Their generator: an empty initial payload. Our scanner sends plain LoginInitiate and messages.
    const env = setup();
    const theirs = await new RendezvousClient({ baseUrl: env.server.origin, ...env.transport }).create("");
    const channel = GeneratorChannel.create({ profile, session: { baseUrl: env.server.origin, rendezvousId: theirs.id } });
    const qr = encodeQr({ intent: "login", publicKey: channel.publicKey, rendezvousId: theirs.id, baseUrl: env.server.origin }, profile);
    const scanning = connectScanner(qr, env.transport);
    const postToken = theirs.sequenceToken;
    const loginInitiate = await theirs.poll();
    expect(loginInitiate).not.toContain(".");
    const sealed = channel.openLoginInitiate(loginInitiate, postToken).sealLoginOk(theirs.sequenceToken);
    await theirs.put(sealed.message);
    const ours = await scanning;
    await ours.conversation.send({ type: "m.login.protocols" });
    expect(await theirs.poll()).not.toContain(".");

    // Their scanner: ignores the offer, writes a plain LoginInitiate. Our generator answers plainly.
    const env2 = setup();
    const pending = await startGenerator({ rendezvousUrl: env2.server.origin, intent: "login", ...env2.transport });
    const waiting = pending.waitForScanner();
    const decoded = decodeQr(pending.qr);
    const scanner = await new RendezvousClient({ baseUrl: env2.server.origin, ...env2.transport }).open(decoded.rendezvousId);
    const sealedInit = ScannerChannel.create({ profile, session: { baseUrl: decoded.baseUrl, rendezvousId: decoded.rendezvousId }, peerPublicKey: decoded.publicKey }).sealLoginInitiate(scanner.sequenceToken);
    await scanner.put(sealedInit.message);
    await waiting;
    expect(await scanner.poll()).not.toContain(".");
  });
});

describe.each(PROFILES)("profile %s on a long-poll server", (profile) => {
  test("handshake and 6 messages: one GET per message (plus the scanner's first), no polling wait at all", async () => {
    const env = setup(undefined, { maxWaitMs: 20_000 });
    const t0 = env.clock.now();
    const { server, g, s } = await connected(profile, env);
    for (let i = 0; i < 3; i++) {
      const [, atG] = await Promise.all([s.send({ i }), g.receive()]);
      expect(atG).toEqual({ i });
      const [, atS] = await Promise.all([g.send({ back: i }), s.receive()]);
      expect(atS).toEqual({ back: i });
    }
    // LoginInitiate, LoginOk and 6 messages: 8 PUTs, 8 GETs that each brought one, and S's opening GET.
    expect(server.requests("PUT")).toHaveLength(8);
    expect(server.requests("GET")).toHaveLength(9);
    expect(server.requests("GET").filter((r) => r.search.startsWith("?since="))).toHaveLength(8);
    expect(env.clock.now()).toBe(t0);
  });
});

test("long-poll server, 100 seeded runs with 20% of requests or responses lost", async () => {
  const failures: string[] = [];
  let lost = 0;
  for (let seed = 1; seed <= 100; seed++) {
    const env = setup(undefined, { maxWaitMs: 20_000, boundRealMs: 20 });
    const rnd = seededRandom(seed);
    env.server.hook = () => {
      if (rnd() >= 0.2) return undefined;
      lost++;
      return rnd() < 0.5 ? "drop-response" : "drop-request";
    };
    try {
      const pending = await startGenerator({ rendezvousUrl: env.server.origin, intent: "login", ...env.transport });
      const [unconfirmed, scanner] = await Promise.all([pending.waitForScanner(), connectScanner(pending.qr, env.transport)]);
      const g = await unconfirmed.confirm(scanner.checkCode);
      const s = scanner.conversation;
      for (let i = 0; i < 4; i++) {
        const [, atG] = await Promise.all([s.send({ i }), g.receive()]);
        const [, atS] = await Promise.all([g.send({ back: i }), s.receive()]);
        if ((atG as { i?: number }).i !== i || (atS as { back?: number }).back !== i) failures.push(`${seed}: wrong message`);
      }
    } catch (err) {
      failures.push(`${seed}: ${String(err)}`);
    }
  }
  expect(failures).toEqual([]);
  expect(lost).toBeGreaterThan(300);
}, 60_000);

test("30% of responses lost: the handshake and the conversation still complete", async () => {
  const env = setup();
  const rnd = seededRandom(7);
  let dropped = 0;
  env.server.hook = (req) => {
    if (req.method !== "POST" && rnd() < 0.3) {
      dropped++;
      return "drop-response";
    }
    return undefined;
  };
  const { g, s } = await connected("element-2026", env);
  for (let i = 0; i < 5; i++) {
    await s.send({ i });
    await expect(g.receive()).resolves.toEqual({ i });
    await g.send({ back: i });
    await expect(s.receive()).resolves.toEqual({ back: i });
  }
  expect(dropped).toBeGreaterThan(5);
  expect(env.server.log.filter((r) => r.method === "PUT").length).toBeGreaterThan(12);
});

test("cancelling a receive loses nothing: the next receive gets the message", async () => {
  const { g, s } = await connected("element-2026");
  const ac = new AbortController();
  const pendingReceive = g.receive({ signal: ac.signal });
  ac.abort();
  expect((await rejectionOf(pendingReceive)).code).toBe("cancelled");
  expect(g.isDead).toBe(false);
  await s.send({ hello: 1 });
  await expect(g.receive()).resolves.toEqual({ hello: 1 });
});

test("a payload that fails to open kills the conversation and deletes the session", async () => {
  const { server, pending, g, s } = await connected("element-2026");
  await s.send({ first: true });
  await g.receive();
  // someone overwrites the slot with garbage where G's peer expects G's next message
  await g.send({ second: true });
  server.externalWrite(pending.session.id, "A".repeat(40));
  const err = await rejectionOf(s.receive());
  expect(["decryption_failed", "invalid_message"]).toContain(err.code);
  expect(s.isDead).toBe(true);
  expect(server.sessions.has(pending.session.id)).toBe(false);
  expect((await rejectionOf(s.send({ x: 1 }))).code).toBe("channel_dead");
});

test("a non-JSON plaintext is refused as invalid_message", async () => {
  const { g, s } = await connected("msc4388");
  // bypass send(): seal a non-object JSON through the public API is impossible, so send an array
  await s.send([1, 2, 3]);
  const err = await rejectionOf(g.receive());
  expect(err.code).toBe("invalid_message");
  expect(g.isDead).toBe(true);
});

test("nobody scans: waitForScanner ends with rendezvous_expired at the session's expiry", async () => {
  const env = setup(30_000);
  const t0 = env.clock.now();
  const pending = await startGenerator({ rendezvousUrl: env.server.origin, intent: "login", ...env.transport });
  const err = await rejectionOf(pending.waitForScanner());
  expect(err.code).toBe("rendezvous_expired");
  expect(env.clock.now() - t0).toBeLessThanOrEqual(30_000);
  // While the QR is shown a scanner may arrive at any moment: G polls at the 250 ms floor, never faster.
  const gets = env.server.requests("GET").map((r) => r.at);
  expect(gets.length).toBeGreaterThanOrEqual(110);
  expect(new Set(gets.slice(1).map((t, i) => t - gets[i]!))).toEqual(new Set([250]));
});

test("scanner: LoginInitiate goes right after its GET; the poll for LoginOk starts 250 ms after that write, 250 ms apart", async () => {
  const env = setup();
  const pending = await startGenerator({ rendezvousUrl: env.server.origin, intent: "login", ...env.transport });
  const start = env.server.log.length;
  const ac = new AbortController();
  // Nobody answers; stop after the scanner's fourth GET.
  env.server.hook = (req) => {
    if (req.method === "GET" && env.server.log.slice(start).filter((r) => r.method === "GET").length === 4) ac.abort();
    return undefined;
  };
  const err = await rejectionOf(connectScanner(pending.qr, { ...env.transport, signal: ac.signal }));
  expect(err.code).toBe("cancelled");
  const log = env.server.log.slice(start);
  expect(log.map((r) => r.method)).toEqual(["GET", "PUT", "GET", "GET", "GET"]);
  const at = log.map((r) => r.at - log[0]!.at);
  expect(at).toEqual([0, 0, 250, 500, 750]);
});

test("a scanner expecting intent reciprocate refuses a login QR without any request", async () => {
  const env = setup();
  const pending = await startGenerator({ rendezvousUrl: env.server.origin, intent: "login", ...env.transport });
  const before = env.server.log.length;
  const err = await rejectionOf(connectScanner(pending.qr, { expectedIntent: "reciprocate", ...env.transport }));
  expect(err.code).toBe("unexpected_intent");
  expect(env.server.log.length).toBe(before);
});

test.each(["https://rz.test/", "https://rz.test/matrix/", "https://rz.test/matrix"])(
  "base URL %s: QR carries it in canonical form, both sides bind the same AAD, requests go below it",
  async (base) => {
    const env = setup();
    const pending = await startGenerator({ rendezvousUrl: base, intent: "reciprocate", ...env.transport });
    const qr = decodeQr(pending.qr);
    expect(qr.baseUrl).toBe(base === "https://rz.test/" ? "https://rz.test" : base);
    const [unconfirmed, scanner] = await Promise.all([pending.waitForScanner(), connectScanner(pending.qr, env.transport)]);
    const g = await unconfirmed.confirm(scanner.checkCode);
    await scanner.conversation.send({ ok: true });
    await expect(g.receive()).resolves.toEqual({ ok: true });
    const pathBase = new URL(base).pathname.replace(/\/$/, "");
    expect(env.server.log.every((r) => r.path.startsWith(`${pathBase}/_matrix/client/`))).toBe(true);
  },
);

test.each(PROFILES)("profile %s scans either id-length form, with bytes after the URL, as Rust does", async (profile) => {
  for (const idLengthBytes of [1, 2] as const) {
    const env = setup();
    const pending = await startGenerator({ rendezvousUrl: env.server.origin, intent: "login", profile, ...env.transport });
    const shown = decodeQr(pending.qr);
    expect(shown.idLengthBytes).toBe(profile === "msc4388" ? 1 : 2);
    // The same session written by another encoder: the other length form and an appended extension.
    const other = Uint8Array.from([...encodeQr(shown, profile, { idLengthBytes }), 0x00, 0x7f]);
    const [unconfirmed, scanner] = await Promise.all([pending.waitForScanner(), connectScanner(other, { profile, ...env.transport })]);
    const g = await unconfirmed.confirm(scanner.checkCode);
    await scanner.conversation.send({ idLengthBytes });
    await expect(g.receive()).resolves.toEqual({ idLengthBytes });
  }
});

test("an unusable rendezvous URL is refused before any request", async () => {
  const env = setup();
  const err = await rejectionOf(startGenerator({ rendezvousUrl: "ftp://rz.test", intent: "login", ...env.transport }));
  expect(err.code).toBe("qr_invalid_url");
  expect(env.server.log).toHaveLength(0);
});

test("G must receive before sending after the handshake (the scanner speaks first)", async () => {
  const { pending, g, s } = await connected("element-2026");
  // The turns are the conversation core's, shared with the 2024 version.
  expect(pending).toBeInstanceOf(PendingGenerator);
  expect([g, s].every((c) => c instanceof SecureConversation)).toBe(true);
  expect(g.ourTurn).toBe(false);
  expect((await rejectionOf(g.send({ early: true }))).code).toBe("out_of_turn");
});

test("200 seeded runs with 20% of requests or responses lost, on MSC and Synapse-style idempotency", async () => {
  const failures: string[] = [];
  let lost = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const clock = new VirtualClock();
    const server = new FakeRendezvousServer(clock, { idempotency: seed % 2 ? "msc" : "synapse" });
    const rnd = seededRandom(seed);
    server.hook = () => {
      if (rnd() >= 0.2) return undefined;
      lost++;
      return rnd() < 0.5 ? "drop-response" : "drop-request";
    };
    const transport = { fetch: server.fetch, clock };
    try {
      const pending = await startGenerator({ rendezvousUrl: server.origin, intent: "login", ...transport });
      const [unconfirmed, scanner] = await Promise.all([pending.waitForScanner(), connectScanner(pending.qr, transport)]);
      const g = await unconfirmed.confirm(scanner.checkCode);
      const s = scanner.conversation;
      for (let i = 0; i < 6; i++) {
        const [, atG] = await Promise.all([s.send({ i }), g.receive()]);
        const [, atS] = await Promise.all([g.send({ back: i }), s.receive()]);
        if ((atG as { i?: number }).i !== i || (atS as { back?: number }).back !== i) failures.push(`${seed}: wrong message`);
      }
    } catch (err) {
      failures.push(`${seed}: ${String(err)}`);
    }
  }
  expect(failures).toEqual([]);
  expect(lost).toBeGreaterThan(1_000);
}, 60_000);
