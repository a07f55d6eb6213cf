// The one vocabulary of failure (contract/failures.ts), walked from the wire to the screen as
// docs/architecture.md "One path from the wire to the screen" tells it: a protocol error (or a received
// m.login.failure) → the channel kind → the flow's outcome → the screen's error code, each step a typed
// value or a total table.
import { describe, expect, test } from "@jest/globals";
import * as v from "valibot";
import {
  CHANNEL_FAILURES,
  ERROR_CODES,
  FAILURE_CODES,
  FAILURE_REASONS,
  FLOW_ERROR_CODES,
  NOT_SUPPORTED_REASONS,
  OAUTH_FAILURES,
  QR_REJECTIONS,
  SCREEN_ERROR,
  failureCode,
  type FailedOutcome,
  type FlowOutcome,
} from "../../contract/failures.js";
import { ProgressEvent } from "../../contract/schemas.js";
import { outcomeToEvent } from "../../main/app/outcome-event.js";
import type { ControllerEvent } from "../../main/app/ipc.js";
import { translate } from "../../main/login/channel/errors.js";
import { FlowContext } from "../../main/login/flows/flow-kit.js";
import * as messages from "../../main/login/flows/messages.js";
import { ChannelError, type SecureConversation } from "../../main/login/flows/ports.js";
import { PROTOCOL_ERROR_CODES, ProtocolError } from "../../main/protocol/errors.js";
import { RendezvousError } from "../../main/protocol/rendezvous-errors.js";

type ErrorEvent = Extract<ControllerEvent, { type: "error" }>;

function screenOf(o: FlowOutcome): ErrorEvent["error"] {
  const e = outcomeToEvent(o, "existing", "@alice:example.org") as ErrorEvent;
  expect(e.type).toBe("error");
  expect(() => v.parse(ProgressEvent, { ...e, flowId: 1 })).not.toThrow();
  return e.error;
}

/** How a flow ends on `error` thrown where it talks to the peer (flow-kit.ts maps it, as in a real flow). */
async function outcomeOf(error: unknown, conversation?: SecureConversation): Promise<FlowOutcome> {
  const ctx = new FlowContext({ role: "existing", lingerMs: 0 });
  if (conversation) ctx.setConversation(conversation);
  return ctx.finish(error);
}

describe("the vocabulary", () => {
  test("each failure code is listed once; every narrower list is made of failure codes", () => {
    expect(new Set(FAILURE_CODES).size).toBe(FAILURE_CODES.length);
    for (const list of [FAILURE_REASONS, CHANNEL_FAILURES, QR_REJECTIONS, NOT_SUPPORTED_REASONS, OAUTH_FAILURES, ERROR_CODES]) {
      for (const code of list) expect(FAILURE_CODES).toContain(code);
    }
  });

  test("the MSC4108 failure reasons are the contract's list, wherever the flows and the core use them", () => {
    expect(messages.FAILURE_REASONS).toBe(FAILURE_REASONS);
    expect(FAILURE_REASONS).toContain(new ProtocolError("unexpected_handshake_message", "x").failureReason);
  });

  test("every failure code has a screen the renderer knows", () => {
    for (const code of FAILURE_CODES) expect(FLOW_ERROR_CODES).toContain(SCREEN_ERROR[code]);
  });
});

describe("one path from the wire to the screen", () => {
  test("a 412 on a write: rendezvous_concurrent_write → insecure_channel → insecure_channel_detected, and the server may be at fault", async () => {
    const wire = translate(new RendezvousError("rendezvous_concurrent_write", "the session changed under us", { status: 412 }));
    expect(wire).toBeInstanceOf(ChannelError);
    expect((wire as ChannelError).kind).toBe("insecure_channel");
    const outcome = await outcomeOf(wire);
    expect(outcome).toEqual({ outcome: "insecure_channel", concurrentWrite: true });
    expect(screenOf(outcome)).toMatchObject({ code: "insecure_channel_detected", checkServer: true });
  });

  test("a 429 beyond our retries: rendezvous_rate_limited → rate_limited → \"Too many attempts\", no server check", async () => {
    const wire = translate(new RendezvousError("rendezvous_rate_limited", "POST /: still rate limited", { status: 429 }));
    expect((wire as ChannelError).kind).toBe("rate_limited");
    const outcome = await outcomeOf(wire);
    expect(outcome).toMatchObject({ outcome: "error", code: "rate_limited" });
    const error = screenOf(outcome);
    expect(error.code).toBe("rate_limited");
    expect(error.checkServer).toBeUndefined();
  });

  test("a payload that does not open: decryption_failed → insecure_channel → insecure_channel_detected, no server check", async () => {
    const outcome = await outcomeOf(translate(new ProtocolError("decryption_failed", "the message does not open")));
    expect(outcome).toEqual({ outcome: "insecure_channel" });
    const error = screenOf(outcome);
    expect(error.code).toBe("insecure_channel_detected");
    expect(error.checkServer).toBeUndefined();
  });

  test("an m.login.failure from the peer: its reason is the failure code, carried to the screen", async () => {
    const peer: SecureConversation = { send: async () => undefined, close: async () => undefined, receive: async () => ({ type: "m.login.failure", reason: "device_not_found" }) };
    const ctx = new FlowContext({ role: "new", lingerMs: 0 });
    ctx.setConversation(peer);
    const outcome = await ctx.receive("m.login.secrets").then(
      () => null,
      (e: unknown) => ctx.finish(e),
    );
    expect(outcome).toEqual({ outcome: "failure", reason: "device_not_found", side: "peer" });
    expect(screenOf(outcome!)).toMatchObject({ code: "device_not_found", reason: "device_not_found" });
  });

  test.each(PROTOCOL_ERROR_CODES.filter((c) => c !== "cancelled"))("protocol code %s reaches exactly one screen, through its channel kind", async (code) => {
    const outcome = (await outcomeOf(translate(new ProtocolError(code, "x")))) as FailedOutcome;
    expect(CHANNEL_FAILURES).toContain(failureCode(outcome));
    expect(screenOf(outcome).code).toBe(SCREEN_ERROR[failureCode(outcome)]);
  });
});

describe("the screen of every outcome", () => {
  const outcomes: FailedOutcome[] = [
    { outcome: "declined", side: "local" },
    { outcome: "declined", side: "peer" },
    ...FAILURE_REASONS.flatMap((reason) => (["local", "peer"] as const).map((side): FailedOutcome => ({ outcome: "failure", reason, side }))),
    { outcome: "expired", retry: true },
    { outcome: "closed" },
    { outcome: "check_code_mismatch" },
    { outcome: "insecure_channel" },
    ...QR_REJECTIONS.map((reason): FailedOutcome => ({ outcome: "qr_rejected", reason })),
    ...NOT_SUPPORTED_REASONS.map((reason): FailedOutcome => ({ outcome: "not_supported", reason })),
    // A detail full of the words the old mapping searched for decides nothing.
    ...ERROR_CODES.map((code): FailedOutcome => ({ outcome: "error", code, detail: "HTTP 429: rate limited, network unreachable (ECONNRESET)" })),
  ];

  test.each(outcomes.map((o) => [JSON.stringify(o), o] as const))("%s", (_name, o) => {
    const error = screenOf(o);
    expect(error.code).toBe(SCREEN_ERROR[failureCode(o)]);
    expect(error.reason).toBe(o.outcome === "failure" ? o.reason : undefined);
  });

  test("an error outcome's screen follows its code alone", () => {
    expect(screenOf({ outcome: "error", code: "internal", detail: "rate limited: 429" }).code).toBe("unknown");
    expect(screenOf({ outcome: "error", code: "network", detail: "" }).code).toBe("network");
  });
});
