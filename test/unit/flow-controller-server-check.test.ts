// Which sign-in failures offer "Check this server" (main/app/flow-controller.ts), and which server the
// check then runs against: the homeserver for missing OAuth 2.0 support, the rendezvous server for the
// rest. A write refused as concurrent (409/412: what backends that do not share sessions cause) is told
// apart from a payload that does not open, through the real flow (main/login/flows/flow-kit.ts).
import { describe, test, expect } from "@jest/globals";
import { LoginFlowController, type LoginEnvironment } from "../../main/app/flow-controller.js";
import { outcomeToEvent } from "../../main/app/outcome-event.js";
import type { ControllerEvent } from "../../main/app/ipc.js";
import * as v from "valibot";
import { ProgressEvent } from "../../contract/schemas.js";
import { translate } from "../../main/login/channel/errors.js";
import type { FlowOutcome, SecureChannelPort } from "../../main/login/flows/ports.js";
import { ProtocolError } from "../../main/protocol/errors.js";
import { RendezvousError } from "../../main/protocol/rendezvous-errors.js";
import { FakeHomeserver, FakeRendezvous, USER_ID, fakeSecrets } from "./login-fakes.js";

const RENDEZVOUS_URL = "https://rendezvous.example.net/";

describe("which outcomes offer Check this server", () => {
  test.each<[FlowOutcome, boolean]>([
    [{ outcome: "not_supported", reason: "oauth_unavailable", detail: "no OAuth" }, true],
    [{ outcome: "not_supported", reason: "device_grant_unsupported" }, true],
    [{ outcome: "not_supported", reason: "rendezvous_unavailable" }, true],
    [{ outcome: "not_supported", reason: "secrets_unavailable" }, false],
    [{ outcome: "expired", retry: false }, true],
    [{ outcome: "error", code: "network", detail: "GET failed" }, true],
    // The server's limits, working as configured: waiting helps, a check would not.
    [{ outcome: "error", code: "rate_limited", detail: "POST: still rate limited" }, false],
    [{ outcome: "insecure_channel", concurrentWrite: true }, true],
    [{ outcome: "insecure_channel" }, false],
    [{ outcome: "check_code_mismatch" }, false],
    [{ outcome: "declined", side: "peer" }, false],
    [{ outcome: "failure", reason: "authorization_expired", side: "peer" }, false],
    [{ outcome: "error", code: "import_failed", detail: "x" }, false],
  ])("%j → %s", (o, offered) => {
    const e = outcomeToEvent(o, "new", USER_ID) as Extract<ControllerEvent, { type: "error" }>;
    expect(e.error.checkServer === true).toBe(offered);
    // The flag survives the IPC schema (and only as true).
    expect((v.parse(ProgressEvent, { ...e, flowId: 1 }) as typeof e).error.checkServer === true).toBe(offered);
  });
});

/** The fake channel, with the scanner's conversation failing on its first receive as `failure` says. */
function failingScanner(net: FakeRendezvous, failure: () => unknown): SecureChannelPort {
  const port = net.port("existing");
  return {
    ...port,
    decodeQr: (qr) => port.decodeQr(qr),
    startGenerator: (o) => port.startGenerator(o),
    async connectScanner(qr, opts) {
      const scanned = await port.connectScanner(qr, opts);
      const conversation = scanned.conversation;
      return {
        ...scanned,
        conversation: {
          send: (m) => conversation.send(m),
          close: () => conversation.close(),
          receive: async () => {
            throw failure();
          },
        },
      };
    },
  };
}

async function existingScansAndFails(failure: () => unknown): Promise<{ error: Extract<ControllerEvent, { type: "error" }>["error"]; ctl: LoginFlowController; newCtl: LoginFlowController }> {
  const hs = new FakeHomeserver();
  const net = new FakeRendezvous();
  const base = { rendezvousUrl: RENDEZVOUS_URL, clientMetadata: { client_name: "test" }, lingerMs: 20, openVerificationPage: async () => undefined };
  const newEnv: LoginEnvironment = { ...base, existingAccount: async () => null, ports: { channel: net.port("new"), oauth: hs.oauth(), newDeviceMatrix: hs.newDeviceMatrix() } };
  const oldEnv: LoginEnvironment = { ...base, existingAccount: async () => ({ userId: USER_ID, matrix: hs.existingDeviceMatrix(fakeSecrets()) }), ports: { channel: failingScanner(net, failure), oauth: hs.oauth() } };
  const newCtl = new LoginFlowController("new", newEnv);
  const ctl = new LoginFlowController("existing", oldEnv);
  const newEvents: ControllerEvent[] = [];
  const events: ControllerEvent[] = [];
  await newCtl.start({ role: "new", side: "show" }, (e) => newEvents.push(e));
  await ctl.start({ role: "existing", side: "scan" }, (e) => events.push(e));
  for (let i = 0; i < 100 && !newEvents.some((e) => e.type === "qr"); i++) await new Promise((r) => setTimeout(r, 10));
  await ctl.submitQr((newEvents.find((e) => e.type === "qr") as Extract<ControllerEvent, { type: "qr" }>).payload);
  for (let i = 0; i < 300 && !events.some((e) => e.type === "error"); i++) await new Promise((r) => setTimeout(r, 10));
  await newCtl.cancel();
  return { error: (events.find((e) => e.type === "error") as Extract<ControllerEvent, { type: "error" }>).error, ctl, newCtl };
}

describe("a write refused as concurrent, through the flow", () => {
  test("409/412 (rendezvous_concurrent_write): Connection not secure, with Check this server, against the existing device's homeserver", async () => {
    const r = await existingScansAndFails(() => translate(new RendezvousError("rendezvous_concurrent_write", "another party wrote to the rendezvous session first", { status: 409 })));
    expect(r.error).toMatchObject({ code: "insecure_channel_detected", checkServer: true });
    expect(r.ctl.serverToCheck()).toBe("https://hs.example.org/");
    // The new device showed its QR on the rendezvous server it was configured with.
    expect(r.newCtl.serverToCheck()).toBe(RENDEZVOUS_URL);
  });

  test("a payload that does not open: Connection not secure, no server check (the server is not the suspect)", async () => {
    const r = await existingScansAndFails(() => translate(new ProtocolError("decryption_failed", "the message does not open")));
    expect(r.error.code).toBe("insecure_channel_detected");
    expect(r.error.checkServer).toBeUndefined();
  });
});
