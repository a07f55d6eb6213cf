// The MSC4108 2024 secure channel (main/protocol-2024) over a listening 2024 rendezvous server with
// Synapse's semantics: both of our roles against each other and against matrix-js-sdk's own
// MSC4108SecureChannel used as Element Web uses it (no wrapper), and each of the wrapper's fixes shown
// against a control run of the bare SDK that trips over the same condition.
import { afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import * as wasm from "@matrix-org/matrix-sdk-crypto-wasm";
import { MSC4108RendezvousSession, MSC4108SecureChannel, type RendezvousFailureReason } from "matrix-js-sdk/lib/rendezvous/index.js";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { connectScanner2024, startGenerator2024, type Conversation2024 } from "../../main/protocol-2024/secure-session.js";
import { PendingGenerator, SecureConversation } from "../../main/protocol/conversation.js";
import { decodeQr2024 } from "../../main/protocol-2024/qr.js";
import { ProtocolError } from "../../main/protocol/errors.js";
import { Rendezvous2024Stub, type Stub2024Options } from "../support/rendezvous-2024-stub.js";
import { protocolRejection } from "../support/protocol-error-code.js";

const stubs: Rendezvous2024Stub[] = [];
async function stub(options: Stub2024Options = {}): Promise<Rendezvous2024Stub> {
  const s = await new Rendezvous2024Stub(options).start();
  stubs.push(s);
  return s;
}

beforeAll(async () => {
  (logger as unknown as { setLevel(l: string): void }).setLevel("warn");
  await wasm.initAsync();
});
afterEach(async () => {
  for (const s of stubs.splice(0)) await s.close();
});

/** Our generator and our scanner, through to a confirmed conversation. */
async function pair(rz: Rendezvous2024Stub, opts: { longPoll?: boolean } = {}): Promise<{ g: Conversation2024; s: Conversation2024; code: string }> {
  const knobs = opts.longPoll === undefined ? {} : { longPoll: opts.longPoll };
  const pending = await startGenerator2024({ createUrl: rz.createUrl, intent: "login", ...knobs });
  const [unconfirmed, scanned] = await Promise.all([pending.waitForScanner(), connectScanner2024(pending.qr, knobs)]);
  const g = await unconfirmed.confirm(scanned.checkCode);
  return { g, s: scanned.conversation, code: scanned.checkCode };
}

describe("our 2024 roles against each other", () => {
  test("check codes agree, messages go both ways, close deletes the session", async () => {
    const rz = await stub();
    const { g, s, code } = await pair(rz);
    expect(code).toMatch(/^\d\d$/);
    await s.send({ type: "m.login.protocols", protocols: ["device_authorization_grant"], homeserver: "example.org" });
    expect(await g.receive()).toEqual({ type: "m.login.protocols", protocols: ["device_authorization_grant"], homeserver: "example.org" });
    await g.send({ type: "m.login.protocol_accepted" });
    expect(await s.receive()).toEqual({ type: "m.login.protocol_accepted" });
    // Ping-pong: a second send before the answer would overwrite an unread message. The turns are the
    // conversation core's, the same objects as the 2025 version's.
    expect([g, s].every((c) => c instanceof SecureConversation)).toBe(true);
    await s.send({ type: "m.login.success" });
    expect((await protocolRejection(s.send({ type: "m.login.success" }))).code).toBe("out_of_turn");
    await g.close();
    expect(rz.sessions.size).toBe(0);
    expect((await protocolRejection(s.receive())).code).toBe("rendezvous_not_found");
  });

  test("a wrong check code deletes the session; the scanner sees it gone", async () => {
    const rz = await stub();
    const pending = await startGenerator2024({ createUrl: rz.createUrl, intent: "login" });
    const [unconfirmed, scanned] = await Promise.all([pending.waitForScanner(), connectScanner2024(pending.qr)]);
    const wrong = scanned.checkCode === "00" ? "01" : "00";
    expect((await protocolRejection(unconfirmed.confirm(wrong))).code).toBe("check_code_mismatch");
    expect(rz.sessions.size).toBe(0);
    expect((await protocolRejection(scanned.conversation.receive())).code).toBe("rendezvous_not_found");
  });

  test("reciprocate QR carries the server name; a login QR scanned with expectedIntent reciprocate is refused before any request", async () => {
    const rz = await stub();
    const recip = await startGenerator2024({ createUrl: rz.createUrl, intent: "reciprocate", serverName: "example.org" });
    expect(recip).toBeInstanceOf(PendingGenerator);
    expect(decodeQr2024(recip.qr)).toMatchObject({ intent: "reciprocate", serverName: "example.org", rendezvousUrl: recip.session.url });
    const login = await startGenerator2024({ createUrl: rz.createUrl, intent: "login" });
    const before = rz.log.length;
    expect((await protocolRejection(connectScanner2024(login.qr, { expectedIntent: "reciprocate" }))).code).toBe("unexpected_intent");
    expect(rz.log.length).toBe(before);
    await recip.close();
    await login.close();
  });

  test("a third party's junk in the slot is an attack: decryption_failed, session deleted", async () => {
    const rz = await stub();
    const { g, s } = await pair(rz);
    rz.overwrite([...rz.sessions.keys()][0]!, "bm90IGEgY2lwaGVydGV4dA");
    expect((await protocolRejection(g.receive())).code).toBe("decryption_failed");
    expect(rz.sessions.size).toBe(0);
    await s.close();
  });
});

describe("against matrix-js-sdk's MSC4108SecureChannel as Element Web uses it (no wrapper)", () => {
  test("their generator (login), our scanner: same check code, messages both ways", async () => {
    const rz = await stub();
    const failures: RendezvousFailureReason[] = [];
    const session = new MSC4108RendezvousSession({ fallbackRzServer: rz.createUrl, onFailure: (r) => failures.push(r) });
    await session.send("");
    const channel = new MSC4108SecureChannel(session, undefined, (r) => failures.push(r));
    const qr = await channel.generateCode(wasm.QrCodeIntent.Login);
    const [, scanned] = await Promise.all([channel.connect(), connectScanner2024(qr, { expectedIntent: "login" })]);
    expect(scanned.checkCode).toBe(channel.getCheckCode());
    await scanned.conversation.send({ type: "m.login.protocols", protocols: ["device_authorization_grant"], homeserver: "localhost" });
    expect(await channel.secureReceive()).toEqual({ type: "m.login.protocols", protocols: ["device_authorization_grant"], homeserver: "localhost" });
    await channel.secureSend({ type: "m.login.protocol_accepted" } as never);
    expect(await scanned.conversation.receive()).toEqual({ type: "m.login.protocol_accepted" });
    await channel.close();
    expect(failures).toEqual([]);
  });

  test("our generator (reciprocate), their scanner: QrCodeData reads our QR, same check code", async () => {
    const rz = await stub();
    const pending = await startGenerator2024({ createUrl: rz.createUrl, intent: "reciprocate", serverName: "localhost" });
    const data = wasm.QrCodeData.fromBytes(pending.qr);
    expect(data.serverName).toBe("localhost");
    const session = new MSC4108RendezvousSession({ url: data.rendezvousUrl!, onFailure: () => undefined });
    const channel = new MSC4108SecureChannel(session, data.publicKey, () => undefined);
    const [unconfirmed] = await Promise.all([pending.waitForScanner(), channel.connect()]);
    const g = await unconfirmed.confirm(channel.getCheckCode()!);
    await channel.secureSend({ type: "m.login.protocol", protocol: "device_authorization_grant", device_id: "X" } as never);
    expect(await g.receive()).toEqual({ type: "m.login.protocol", protocol: "device_authorization_grant", device_id: "X" });
    await g.close();
    expect(rz.sessions.size).toBe(0);
  });
});

describe("what the wrapper fixes (each with the bare SDK as control)", () => {
  test("a server clock 10 minutes behind: the bare SDK cancels at once as expired (matrix-js-sdk#5141); ours keeps the session's real lifetime", async () => {
    const rz = await stub({ skewMs: -10 * 60_000, ttlMs: 60_000 });
    // Control: the bare SDK computes expiry from Expires against the local clock.
    const failures: RendezvousFailureReason[] = [];
    const bare = new MSC4108RendezvousSession({ fallbackRzServer: rz.createUrl, onFailure: (r) => failures.push(r) });
    await bare.send("");
    await new Promise((r) => setTimeout(r, 50));
    expect(failures).toEqual(["expired"]);
    expect(bare.cancelled).toBe(true);
    await bare.close();

    const pending = await startGenerator2024({ createUrl: rz.createUrl, intent: "login" });
    expect(pending.expiresInMs).toBeGreaterThan(55_000);
    expect(pending.expiresInMs).toBeLessThanOrEqual(60_000);
    const [unconfirmed, scanned] = await Promise.all([pending.waitForScanner(), connectScanner2024(pending.qr)]);
    const g = await unconfirmed.confirm(scanned.checkCode);
    await scanned.conversation.send({ type: "m.login.success" });
    expect(await g.receive()).toEqual({ type: "m.login.success" });
    await g.close();
  });

  test("a 412 on PUT: the bare SDK returns as if sent and copies the ETag (element-web#34453); ours fails with rendezvous_concurrent_write", async () => {
    const rz = await stub();
    // Control: the bare SDK's write after a third party's write.
    const bare = new MSC4108RendezvousSession({ fallbackRzServer: rz.createUrl, onFailure: () => undefined });
    await bare.send("");
    rz.overwrite(rz.idOf(bare.url!), "someone else");
    await bare.send("ours");
    expect(rz.log.at(-1)).toMatchObject({ method: "PUT", status: 412 });
    expect(bare.cancelled).toBe(false); // no error, no failure callback: the message is simply lost
    await bare.close();

    const { g, s } = await pair(rz);
    rz.overwrite([...rz.sessions.keys()][0]!, "someone else");
    const err = await protocolRejection(s.send({ type: "m.login.success" }));
    expect(err.code).toBe("rendezvous_concurrent_write");
    await g.close();
  });

  test("a proxy that weakens ETags and adds a charset: the bare SDK never sees the payload; ours signs through", async () => {
    const rz = await stub({ proxyMangles: true });
    // Control: Element's generator never takes `text/plain; charset=utf-8` for a payload.
    const session = new MSC4108RendezvousSession({ fallbackRzServer: rz.createUrl, onFailure: () => undefined });
    await session.send("");
    const channel = new MSC4108SecureChannel(session, undefined, () => undefined);
    const qr = await channel.generateCode(wasm.QrCodeIntent.Login);
    const bareConnect = channel.connect();
    bareConnect.catch(() => undefined);
    const ours = connectScanner2024(qr).catch((e: unknown) => e);
    const outcome = await Promise.race([bareConnect.then(() => "connected"), new Promise((r) => setTimeout(() => r("stuck"), 3_000))]);
    expect(outcome).toBe("stuck");
    await channel.close();
    await ours;

    // Ours on both sides, through the same proxy.
    const { g, s } = await pair(rz);
    await s.send({ type: "m.login.success" });
    expect(await g.receive()).toEqual({ type: "m.login.success" });
    await g.close();
  }, 15_000);

  test("an ETag stripped on the way: a typed error, not a silent stall", async () => {
    const rz = await stub({ dropEtag: true });
    const pending = await startGenerator2024({ createUrl: rz.createUrl, intent: "login" });
    const err = await protocolRejection(pending.waitForScanner());
    expect(err.code).toBe("rendezvous_bad_response");
    expect(err.message).toMatch(/ETag/);
    await pending.close();
  });

  test("cancel: a receive stops at once despite the SDK's 1 s sleep, and the next receive gets the message", async () => {
    const rz = await stub();
    const { g, s } = await pair(rz, { longPoll: false });
    const stop = new AbortController();
    const waiting = g.receive({ signal: stop.signal });
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    stop.abort();
    expect((await protocolRejection(waiting)).code).toBe("cancelled");
    expect(performance.now() - t0).toBeLessThan(100);
    const getsBefore = rz.count("GET");
    // The abandoned loop wakes from its sleep and must not poll (nor consume) any more.
    await new Promise((r) => setTimeout(r, 1_300));
    expect(rz.count("GET")).toBe(getsBefore);
    await s.send({ type: "m.login.success" });
    expect(await g.receive()).toEqual({ type: "m.login.success" });
    await g.close();
  }, 15_000);

  test("cancel while waiting for the scanner: at once; the session is deleted by close()", async () => {
    const rz = await stub();
    const pending = await startGenerator2024({ createUrl: rz.createUrl, intent: "login" });
    const stop = new AbortController();
    const waiting = pending.waitForScanner({ signal: stop.signal });
    setTimeout(() => stop.abort(), 200);
    expect((await protocolRejection(waiting)).code).toBe("cancelled");
    await pending.close();
    expect(rz.sessions.size).toBe(0);
    expect(rz.log.at(-1)).toMatchObject({ method: "DELETE", status: 204 });
  });

  test("expiry while the QR is shown: rendezvous_expired at the session's deadline", async () => {
    const rz = await stub({ ttlMs: 2_000 });
    const pending = await startGenerator2024({ createUrl: rz.createUrl, intent: "login" });
    const t0 = performance.now();
    expect((await protocolRejection(pending.waitForScanner())).code).toBe("rendezvous_expired");
    expect(performance.now() - t0).toBeLessThan(3_000);
    await pending.close();
  }, 10_000);

  test("long-poll: with the extension the scanner's answer arrives without the SDK's 1 s polling, in fewer requests", async () => {
    const measure = async (rz: Rendezvous2024Stub, longPoll: boolean): Promise<{ ms: number; gets: number }> => {
      const { g, s } = await pair(rz, { longPoll });
      const gets = rz.count("GET");
      const t0 = performance.now();
      const reply = g.receive();
      await new Promise((r) => setTimeout(r, 400));
      await s.send({ type: "m.login.success" });
      await reply;
      const ms = performance.now() - t0 - 400;
      const result = { ms, gets: rz.count("GET") - gets };
      await g.close();
      return result;
    };
    const held = await measure(await stub({ longPollMs: 10_000, advertiseLongPoll: true }), true);
    const plain = await measure(await stub(), true); // `since` sent, ignored: plain polling
    // One held GET carried the answer, where the SDK's polling needed a second one after its 1 s sleep.
    // Latency itself is bench:flow's to measure; here the wall-clock bound is only "no poll interval
    // was waited", loose enough that a loaded CI worker does not fail it.
    expect(held.gets).toBe(1);
    expect(plain.gets).toBeGreaterThanOrEqual(2);
    expect(held.ms).toBeLessThan(1_000);
    const sent = stubs[0]!.log.filter((r) => r.method === "GET" && r.headers["if-none-match"] !== undefined);
    expect(sent.every((r) => new URLSearchParams(r.search).get("since") === r.headers["if-none-match"])).toBe(true);
  }, 20_000);

  test("the session disappearing (the peer's DELETE) is rendezvous_not_found, never a hang", async () => {
    const rz = await stub();
    const { g, s } = await pair(rz);
    await s.close();
    const err = await protocolRejection(g.receive());
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err.code).toBe("rendezvous_not_found");
  });
});
