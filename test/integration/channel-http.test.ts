// The MSC4388 secure channel over HTTP against the real rendezvous server: both profiles, a lossy
// proxy, Specter racing the scanner, a wrong check code, and the `qr-login channel` CLI end to end.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ScannerChannel } from "../../main/protocol/channel.js";
import { ProtocolError } from "../../main/protocol/errors.js";
import { getProfile } from "../../main/protocol/profile.js";
import { decodeQr, encodeQr } from "../../main/protocol/qr.js";
import { RendezvousClient } from "../../main/protocol/rendezvous.js";
import { prefixesFor } from "../../main/protocol/rendezvous-prefix.js";
import { connectScanner, startGenerator } from "../../main/protocol/secure-session.js";
import { TOKEN_ECHO_OFFER } from "../../main/protocol/token-echo.js";
import { startRendezvousServer, type RunningRendezvousServer } from "../../server/rendezvous/index.js";
import { seededRandom, startLossyProxy, type LossyProxy } from "../support/lossy-proxy.js";
import { protocolRejection as rejectionOf } from "../support/protocol-error-code.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PROFILES = ["element-2026", "msc4388"] as const;

let server: RunningRendezvousServer;

beforeAll(async () => {
  server = await startRendezvousServer({
    host: "127.0.0.1",
    port: 0,
    mode: "open",
    store: "memory",
    logLevel: false,
    // these tests create many sessions from one address
    limits: { createPerWindow: 0, maxSessionsPerIp: 0, requestsPerWindow: 0 },
  });
});

afterAll(async () => {
  await server.close();
});

async function sessionExists(baseUrl: string, id: string, profile: string): Promise<boolean> {
  const client = new RendezvousClient({ baseUrl, prefixes: prefixesFor(getProfile(profile)) });
  try {
    await client.open(id);
    return true;
  } catch (err) {
    if (err instanceof ProtocolError && err.code === "rendezvous_not_found") return false;
    throw err;
  }
}

/** Full handshake, both sides concurrently, then `rounds` ping-pong exchanges. */
async function handshakeAndTalk(baseUrl: string, profile: string, rounds: number) {
  const pending = await startGenerator({ rendezvousUrl: baseUrl, intent: "login", profile });
  const [unconfirmed, scanner] = await Promise.all([
    pending.waitForScanner(),
    connectScanner(pending.qr, { profile, expectedIntent: "login" }),
  ]);
  expect(scanner.checkCode).toMatch(/^[1-9][0-9]$/);
  const g = await unconfirmed.confirm(scanner.checkCode);
  const s = scanner.conversation;
  const seenByG: unknown[] = [];
  const seenByS: unknown[] = [];
  for (let i = 0; i < rounds; i++) {
    const fromS = { type: "echo", body: `from S #${i}`, n: i, unicode: "é✓" };
    const [, gotByG] = await Promise.all([s.send(fromS), g.receive()]);
    seenByG.push(gotByG);
    const fromG = { type: "echo", body: `from G #${i}`, nested: { list: [i, i + 1] } };
    const [, gotByS] = await Promise.all([g.send(fromG), s.receive()]);
    seenByS.push(gotByS);
  }
  return { pending, g, s, seenByG, seenByS };
}

function expectedTalk(rounds: number) {
  return {
    byG: Array.from({ length: rounds }, (_, i) => ({ type: "echo", body: `from S #${i}`, n: i, unicode: "é✓" })),
    byS: Array.from({ length: rounds }, (_, i) => ({ type: "echo", body: `from G #${i}`, nested: { list: [i, i + 1] } })),
  };
}

describe.each(PROFILES)("over HTTP with profile %s", (profile) => {
  test("handshake, check code, several messages each way, DELETE at the end", async () => {
    const { pending, g, s, seenByG, seenByS } = await handshakeAndTalk(server.url, profile, 4);
    const want = expectedTalk(4);
    expect(seenByG).toEqual(want.byG);
    expect(seenByS).toEqual(want.byS);
    // the profile's prefix was used first and worked (the server serves both)
    expect(pending.session.client.prefix).toBe(getProfile(profile).rendezvousPath);
    // the QR carries the profile's prefix
    expect(decodeQr(pending.qr).prefix).toBe(getProfile(profile).qrPrefix);
    expect(await sessionExists(server.url, pending.session.id, profile)).toBe(true);
    await s.close();
    expect(await sessionExists(server.url, pending.session.id, profile)).toBe(false);
    // the other side notices at its next request
    const err = await rejectionOf(g.receive());
    expect(err.code).toBe("rendezvous_not_found");
  });

  test("turn-taking is enforced: a second send before the answer is refused, nothing overwritten", async () => {
    const { g, s } = await handshakeAndTalk(server.url, profile, 1);
    // G spoke last, so S may send once, and not twice before G answers
    expect(g.ourTurn).toBe(false);
    await s.send({ type: "echo", body: "one" });
    const err = await rejectionOf(s.send({ type: "echo", body: "two" }));
    expect(err.code).toBe("out_of_turn");
    expect(s.isDead).toBe(false);
    await expect(g.receive()).resolves.toEqual({ type: "echo", body: "one" });
    await s.close();
  });
});

describe("through a proxy that loses 20% of the responses", () => {
  let proxy: LossyProxy;
  beforeAll(async () => {
    proxy = await startLossyProxy(server.url, 0.2, seededRandom(4388));
  });
  afterAll(async () => {
    await proxy.close();
  });

  test.each(PROFILES)("profile %s: the conversation survives (idempotent PUT retries)", async (profile) => {
    const before = proxy.stats.dropped;
    // Enough round trips that a 20% loss rate reliably hits several requests (faster polling means
    // fewer GETs per message than before, so 5 rounds could lose only 3).
    const { g, s, seenByG, seenByS } = await handshakeAndTalk(proxy.url, profile, 10);
    const want = expectedTalk(10);
    expect(seenByG).toEqual(want.byG);
    expect(seenByS).toEqual(want.byS);
    await s.close();
    await g.close();
    // the run really lost responses, PUTs among them
    expect(proxy.stats.dropped - before).toBeGreaterThan(3);
  }, 60_000);

  test("lost PUT responses were among the losses", () => {
    expect(proxy.stats.droppedByMethod["PUT"] ?? 0).toBeGreaterThan(0);
  });
});

describe("Specter (scanned the same QR) racing the real scanner", () => {
  test("Specter's LoginInitiate lands first: S fails with a concurrent write, G's confirm rejects any code but Specter's", async () => {
    const profile = "element-2026";
    const pending = await startGenerator({ rendezvousUrl: server.url, intent: "login", profile });
    const qr = decodeQr(pending.qr);
    // Both read the session (token T1) ...
    const specterClient = new RendezvousClient({ baseUrl: qr.baseUrl, prefixes: prefixesFor(getProfile(profile)) });
    const specterSession = await specterClient.open(qr.rendezvousId);
    const specter = ScannerChannel.create({ profile: getProfile(profile), session: { baseUrl: qr.baseUrl, rendezvousId: qr.rendezvousId }, peerPublicKey: qr.publicKey });
    const sealed = specter.sealLoginInitiate(specterSession.sequenceToken);
    // ... the real scanner's PUT is held back until Specter's has landed.
    let release!: () => void;
    const specterWrote = new Promise<void>((r) => (release = r));
    let scannerRead!: () => void;
    const scannerHasRead = new Promise<void>((r) => (scannerRead = r));
    const heldFetch = async (input: string, init: RequestInit) => {
      if (init.method === "PUT") await specterWrote;
      const response = await fetch(input, init);
      if (init.method === "GET") scannerRead();
      return response;
    };
    const realScanner = connectScanner(pending.qr, { profile, fetch: heldFetch });
    const waitS = rejectionOf(realScanner);
    await scannerHasRead; // S holds T1 and has sealed with it
    const specterOpenToken = await specterSession.put(sealed.message);
    release();
    const sErr = await waitS;
    expect(sErr.code).toBe("rendezvous_concurrent_write");

    // G answers whoever wrote LoginInitiate: Specter.
    const unconfirmed = await pending.waitForScanner();
    const loginOk = await specterSession.poll();
    const specterEstablished = sealed.pending.openLoginOk(loginOk, specterOpenToken);
    // The user sees no code on S; whatever they type that is not Specter's code fails.
    const wrong = specterEstablished.checkCode === "42" ? "43" : "42";
    const err = await rejectionOf(unconfirmed.confirm(wrong));
    expect(err.code).toBe("check_code_mismatch");
    // G deleted the session: Specter gets nothing more.
    expect(await sessionExists(server.url, qr.rendezvousId, profile)).toBe(false);
    await expect(unconfirmed.confirm(specterEstablished.checkCode)).rejects.toMatchObject({ code: "channel_dead" });
  });

  test("Specter overwrites the scanner's LoginInitiate before G reads it: G answers Specter, S cannot open the reply", async () => {
    const profile = "msc4388";
    const pending = await startGenerator({ rendezvousUrl: server.url, intent: "reciprocate", profile });
    const qr = decodeQr(pending.qr);
    const postToken = pending.session.sequenceToken;
    // the real scanner writes LoginInitiate and starts waiting for LoginOk
    const scanner = connectScanner(pending.qr, { profile, expectedIntent: "reciprocate" });
    const scannerErr = rejectionOf(scanner);
    const specterClient = new RendezvousClient({ baseUrl: qr.baseUrl, prefixes: prefixesFor(getProfile(profile)) });
    const specterSession = await specterClient.open(qr.rendezvousId);
    // The session starts with the generator's initial payload (its offer of the token echo).
    while (specterSession.data === TOKEN_ECHO_OFFER) await specterSession.poll({ replyDue: true });
    // Specter seals with the POST token (what G will open with) and overwrites S's payload.
    const specter = ScannerChannel.create({ profile: getProfile(profile), session: { baseUrl: qr.baseUrl, rendezvousId: qr.rendezvousId }, peerPublicKey: qr.publicKey });
    const sealed = specter.sealLoginInitiate(postToken);
    await specterSession.put(sealed.message);
    // S sees a new payload that is not a LoginOk for it: typed failure, session deleted.
    const sErr = await scannerErr;
    expect(["decryption_failed", "invalid_message"]).toContain(sErr.code);
    // G, polling only now, finds the session gone.
    const gErr = await rejectionOf(pending.waitForScanner());
    expect(gErr.code).toBe("rendezvous_not_found");
  });

  test("junk written into the session kills G's handshake", async () => {
    const profile = "element-2026";
    const pending = await startGenerator({ rendezvousUrl: server.url, intent: "login", profile });
    const c = new RendezvousClient({ baseUrl: server.url, prefixes: prefixesFor(getProfile(profile)) });
    const specter = await c.open(pending.session.id);
    await specter.put("AAAA" + "A".repeat(100));
    const err = await rejectionOf(pending.waitForScanner());
    expect(["decryption_failed", "invalid_message", "invalid_base64"]).toContain(err.code);
    expect(await sessionExists(server.url, pending.session.id, profile)).toBe(false);
  });
});

describe("wrong check code", () => {
  test.each(PROFILES)("profile %s: G refuses, deletes the session; S's first message is never delivered", async (profile) => {
    const pending = await startGenerator({ rendezvousUrl: server.url, intent: "login", profile });
    const [unconfirmed, scanner] = await Promise.all([pending.waitForScanner(), connectScanner(pending.qr, { profile })]);
    const wrong = scanner.checkCode === "10" ? "11" : "10";
    // a malformed code is an input error, not a verdict: the channel stays usable
    await expect(unconfirmed.confirm("7")).rejects.toMatchObject({ code: "invalid_check_code" });
    const err = await rejectionOf(unconfirmed.confirm(wrong));
    expect(err.code).toBe("check_code_mismatch");
    const sErr = await rejectionOf(scanner.conversation.send({ type: "m.login.protocols" }));
    expect(sErr.code).toBe("rendezvous_not_found");
    expect(scanner.conversation.isDead).toBe(true);
    expect(await sessionExists(server.url, pending.session.id, profile)).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// CLI: `qr-login channel generate` and `qr-login channel scan` against each other.

interface Proc {
  child: ChildProcessWithoutNullStreams;
  events: Record<string, unknown>[];
  stderr: string;
  next(event: string): Promise<Record<string, unknown>>;
  exit: Promise<number | null>;
}

const children: ChildProcessWithoutNullStreams[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.pid) process.kill(c.pid, "SIGKILL");
});

function cli(args: string[]): Proc {
  const child = spawn(process.execPath, [path.join(root, "bin/qr-login.js"), ...args], { cwd: root, stdio: ["pipe", "pipe", "pipe"] });
  children.push(child);
  const events: Record<string, unknown>[] = [];
  let waiters: (() => void)[] = [];
  let buf = "";
  const proc: Proc = {
    child,
    events,
    stderr: "",
    exit: new Promise((resolve) => child.on("exit", (code) => resolve(code))),
    async next(event) {
      for (;;) {
        const found = events.find((e) => e["event"] === event || e["event"] === "error");
        if (found) return found;
        if (child.exitCode !== null) throw new Error(`process exited (${child.exitCode}) without "${event}": ${JSON.stringify(events)} ${proc.stderr}`);
        await new Promise<void>((r) => waiters.push(r));
      }
    },
  };
  const wake = () => {
    const w = waiters;
    waiters = [];
    w.forEach((f) => f());
  };
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      events.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
      buf = buf.slice(nl + 1);
    }
    wake();
  });
  child.stderr.setEncoding("utf8").on("data", (c: string) => (proc.stderr += c));
  child.on("exit", wake);
  return proc;
}

describe("qr-login channel CLI", () => {
  test.each(PROFILES)("profile %s: generate ↔ scan over the real server, JSON lines, exit 0, session deleted", async (profile) => {
    const g = cli(["channel", "generate", "--server", server.url, "--profile", profile, "--intent", "reciprocate"]);
    const qr = await g.next("qr");
    expect(qr["hex"]).toMatch(/^[0-9a-f]+$/);
    const decoded = decodeQr(Uint8Array.from(Buffer.from(String(qr["hex"]), "hex")));
    expect(decoded.intent).toBe("reciprocate");
    expect(decoded.idLengthBytes).toBe(getProfile(profile).qrIdLengthBytes);

    // The scanner gets the same session as another encoder would write it: the other id-length form,
    // with a byte after the URL (Rust ignores it, so must we).
    const otherForm = encodeQr(decoded, profile, { idLengthBytes: decoded.idLengthBytes === 1 ? 2 : 1 });
    const s = cli(["channel", "scan", "--qr", `${Buffer.from(otherForm).toString("hex")}ff`, "--profile", profile]);
    s.child.stdin.end("s1\ns2\n");
    const cc = await s.next("checkcode");
    expect(cc["code"]).toMatch(/^[1-9][0-9]$/);
    g.child.stdin.end(`${String(cc["code"])}\ng1\n`);

    const [gExit, sExit] = await Promise.all([g.exit, s.exit]);
    expect({ gExit, sExit, gErr: g.stderr, sErr: s.stderr }).toEqual({ gExit: 0, sExit: 0, gErr: "", sErr: "" });
    const echo = (body: string) => ({ type: "echo", body });
    expect(g.events).toEqual([
      { event: "qr", hex: qr["hex"] },
      { event: "confirmed" },
      { event: "received", message: echo("s1") },
      { event: "sent", message: echo("g1") },
    ]);
    expect(s.events).toEqual([
      { event: "checkcode", code: cc["code"] },
      { event: "sent", message: echo("s1") },
      { event: "received", message: echo("g1") },
      { event: "sent", message: echo("s2") },
    ]);
    expect(await sessionExists(server.url, decoded.rendezvousId, profile)).toBe(false);
  }, 30_000);

  test("wrong code typed on G: error event and non-zero exit on both sides", async () => {
    const g = cli(["channel", "generate", "--server", server.url]);
    const qr = await g.next("qr");
    const s = cli(["channel", "scan", "--qr", String(qr["hex"])]);
    const cc = await s.next("checkcode");
    g.child.stdin.end(`${cc["code"] === "10" ? "11" : "10"}\n`);
    const gExit = await g.exit;
    // only now does S have something to say: G has deleted the session
    s.child.stdin.end("hello\n");
    const sExit = await s.exit;
    expect(gExit).not.toBe(0);
    expect(g.events.at(-1)).toMatchObject({ event: "error", error: "check_code_mismatch" });
    expect(g.events.some((e) => e["event"] === "confirmed")).toBe(false);
    expect(sExit).not.toBe(0);
    expect(s.events.at(-1)).toMatchObject({ event: "error", error: "rendezvous_not_found" });
    expect(s.events.some((e) => e["event"] === "sent")).toBe(false);
  }, 30_000);

  test("SIGINT while G waits for a scanner: error 'cancelled', non-zero exit, session deleted", async () => {
    const g = cli(["channel", "generate", "--server", server.url, "--profile", "msc4388"]);
    const qr = await g.next("qr");
    const { rendezvousId } = decodeQr(Uint8Array.from(Buffer.from(String(qr["hex"]), "hex")));
    expect(await sessionExists(server.url, rendezvousId, "msc4388")).toBe(true);
    g.child.kill("SIGINT");
    expect(await g.exit).toBe(1);
    expect(g.events.at(-1)).toMatchObject({ event: "error", error: "cancelled" });
    expect(await sessionExists(server.url, rendezvousId, "msc4388")).toBe(false);
  }, 30_000);

  test("a malformed QR is a typed error; missing flags are usage errors (exit 2)", async () => {
    const bad = cli(["channel", "scan", "--qr", "00112233"]);
    bad.child.stdin.end();
    expect(await bad.exit).toBe(1);
    expect(bad.events).toHaveLength(1);
    expect(bad.events[0]).toMatchObject({ event: "error" });
    expect(String(bad.events[0]!["error"])).toMatch(/^qr_/);
    const usage = cli(["channel", "generate"]);
    usage.child.stdin.end();
    expect(await usage.exit).toBe(2);
  });
});
