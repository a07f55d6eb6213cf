// The conversation core both versions share (main/protocol/conversation.ts), over a scripted carrier:
// the typestate from QR to conversation, whose turn it is, and what each failure ends and deletes.
// The versions' own tests (secure-session.test.ts, protocol-2024-session.test.ts) run it over the wire.
import { describe, expect, test } from "@jest/globals";
import {
  PendingGenerator,
  SecureConversation,
  type Carrier,
  type CheckCodeLock,
  type GeneratorHandshake,
  type Incoming,
} from "../../main/protocol/conversation.js";
import { ProtocolError } from "../../main/protocol/errors.js";
import { protocolRejection } from "../support/protocol-error-code.js";

/** A carrier whose reads and writes are scripted; it counts its seals, writes and closes. */
class ScriptedCarrier implements Carrier {
  readonly sealed: object[] = [];
  readonly written: object[] = [];
  closes = 0;
  /** What the next reads return, in order: a value to open, or an error for the read or the open. */
  readonly reads: Array<{ value: unknown } | { readError: unknown } | { openError: unknown } | { wait: Promise<void> }> = [];
  writeError: unknown;
  sealError: unknown;

  seal(message: object) {
    if (this.sealError) throw this.sealError;
    this.sealed.push(message);
    return {
      write: async () => {
        if (this.writeError) throw this.writeError;
        this.written.push(message);
      },
    };
  }

  async read({ signal }: { signal?: AbortSignal | undefined; replyDue: boolean }): Promise<Incoming> {
    const next = this.reads.shift();
    if (!next) throw new Error("no read scripted");
    if ("wait" in next) {
      await Promise.race([next.wait, new Promise((_, reject) => signal?.addEventListener("abort", () => reject(new ProtocolError("cancelled", "cancelled"))))]);
      return { open: () => ({ waited: true }) };
    }
    if ("readError" in next) throw next.readError;
    return {
      open: () => {
        if ("openError" in next) throw next.openError;
        return next.value;
      },
    };
  }

  async close(): Promise<void> {
    this.closes++;
  }
}

function scannerSide(carrier = new ScriptedCarrier()) {
  return { carrier, conversation: new SecureConversation("scanner", "session", carrier, { lastWasSend: false }) };
}

/** A generator whose scanner arrives at once and whose code is "42". */
function generatorSide(carrier = new ScriptedCarrier()) {
  let answered = 0;
  const handshake: GeneratorHandshake & { closes: number } = {
    closes: 0,
    expiresInMs: 60_000,
    async answerScanner(): Promise<CheckCodeLock> {
      answered++;
      return {
        unlock(code) {
          if (!/^\d\d$/.test(String(code))) throw new ProtocolError("invalid_check_code", "not two digits");
          if (String(code) !== "42") throw new ProtocolError("check_code_mismatch", "wrong code");
          return carrier;
        },
      };
    },
    async close() {
      this.closes++;
    },
  };
  const pending = new PendingGenerator("session", Uint8Array.of(1, 2, 3), handshake);
  return { carrier, handshake, pending, answered: () => answered };
}

describe("the typestate from the QR to a conversation", () => {
  test("waitForScanner is used once; confirm makes the one object that can send, and the scanner speaks first", async () => {
    const { pending, carrier, answered } = generatorSide();
    expect(pending.expiresInMs).toBe(60_000);
    const unconfirmed = await pending.waitForScanner();
    expect((await protocolRejection(pending.waitForScanner())).code).toBe("channel_dead");
    expect(answered()).toBe(1);
    const g = await unconfirmed.confirm("42");
    expect(g).toBeInstanceOf(SecureConversation);
    expect(g.role).toBe("generator");
    expect(g.session).toBe("session");
    expect(g.ourTurn).toBe(false);
    expect((await protocolRejection(g.send({ early: true }))).code).toBe("out_of_turn");
    expect(carrier.sealed).toEqual([]);
    expect((await protocolRejection(unconfirmed.confirm("42"))).code).toBe("channel_dead");
  });

  test("input that is not a code may be retried; a wrong code ends the attempt and deletes the session", async () => {
    const { pending, handshake } = generatorSide();
    const unconfirmed = await pending.waitForScanner();
    expect((await protocolRejection(unconfirmed.confirm("4"))).code).toBe("invalid_check_code");
    expect(handshake.closes).toBe(0);
    expect((await protocolRejection(unconfirmed.confirm("41"))).code).toBe("check_code_mismatch");
    expect(handshake.closes).toBe(1);
    expect((await protocolRejection(unconfirmed.confirm("42"))).code).toBe("channel_dead");
  });

  test("closing a pending generator deletes the session and ends its wait before it starts", async () => {
    const { pending, handshake, answered } = generatorSide();
    await pending.close();
    expect(handshake.closes).toBe(1);
    expect((await protocolRejection(pending.waitForScanner())).code).toBe("channel_dead");
    expect(answered()).toBe(0);
  });
});

describe("turns", () => {
  test("send, receive, send: each send needs the peer's answer in between", async () => {
    const { carrier, conversation: s } = scannerSide();
    expect(s.ourTurn).toBe(true);
    await s.send({ n: 1 });
    expect(s.ourTurn).toBe(false);
    expect((await protocolRejection(s.send({ n: 2 }))).code).toBe("out_of_turn");
    carrier.reads.push({ value: { reply: 1 } });
    await expect(s.receive()).resolves.toEqual({ reply: 1 });
    await s.send({ n: 3 });
    expect(carrier.written).toEqual([{ n: 1 }, { n: 3 }]);
    expect(s.isDead).toBe(false);
  });

  test("one send or receive at a time", async () => {
    const { carrier, conversation: s } = scannerSide();
    let release!: () => void;
    carrier.reads.push({ wait: new Promise<void>((r) => (release = r)) });
    const first = s.receive();
    expect((await protocolRejection(s.receive())).code).toBe("out_of_turn");
    expect((await protocolRejection(s.send({ x: 1 }))).code).toBe("out_of_turn");
    release();
    await expect(first).resolves.toEqual({ waited: true });
  });
});

describe("failures", () => {
  test("a cancelled wait loses nothing: the conversation goes on, nothing is deleted", async () => {
    const { carrier, conversation: s } = scannerSide();
    carrier.reads.push({ wait: new Promise<void>(() => undefined) });
    const ac = new AbortController();
    const waiting = s.receive({ signal: ac.signal });
    ac.abort();
    expect((await protocolRejection(waiting)).code).toBe("cancelled");
    expect(s.isDead).toBe(false);
    carrier.reads.push({ value: { next: true } });
    await expect(s.receive()).resolves.toEqual({ next: true });
    expect(carrier.closes).toBe(0);
  });

  test("a failed read ends the conversation without a DELETE (the session is gone or unreachable)", async () => {
    const { carrier, conversation: s } = scannerSide();
    carrier.reads.push({ readError: new ProtocolError("rendezvous_not_found", "gone") });
    expect((await protocolRejection(s.receive())).code).toBe("rendezvous_not_found");
    expect(s.isDead).toBe(true);
    expect(carrier.closes).toBe(0);
    expect((await protocolRejection(s.send({ x: 1 }))).code).toBe("channel_dead");
  });

  test("a payload that does not open ends the conversation and deletes the session", async () => {
    const { carrier, conversation: s } = scannerSide();
    carrier.reads.push({ openError: new ProtocolError("decryption_failed", "does not open") });
    expect((await protocolRejection(s.receive())).code).toBe("decryption_failed");
    expect(carrier.closes).toBe(1);
    expect((await protocolRejection(s.receive())).code).toBe("channel_dead");
  });

  test.each([[[1, 2]], [null], ["text"], [7]])("a message that is not a JSON object (%j) is invalid_message, and the session is deleted", async (value) => {
    const { carrier, conversation: s } = scannerSide();
    carrier.reads.push({ value });
    expect((await protocolRejection(s.receive())).code).toBe("invalid_message");
    expect(s.isDead).toBe(true);
    expect(carrier.closes).toBe(1);
  });

  test("a failed write ends the conversation (whether it landed is unknown); a message that cannot be sealed does not", async () => {
    const { carrier, conversation: s } = scannerSide();
    carrier.sealError = new ProtocolError("sequence_token_too_long", "token too long");
    expect((await protocolRejection(s.send({ x: 1 }))).code).toBe("sequence_token_too_long");
    expect(s.isDead).toBe(false);
    carrier.sealError = undefined;
    carrier.writeError = new ProtocolError("rendezvous_concurrent_write", "someone wrote first");
    expect((await protocolRejection(s.send({ x: 1 }))).code).toBe("rendezvous_concurrent_write");
    expect(s.isDead).toBe(true);
    expect(carrier.closes).toBe(0);
  });

  test("close ends the conversation and deletes the session", async () => {
    const { carrier, conversation: s } = scannerSide();
    await s.close();
    expect(carrier.closes).toBe(1);
    expect((await protocolRejection(s.send({ x: 1 }))).code).toBe("channel_dead");
  });
});
