// main/app/flow-controller.ts over the real MSC4108 state machines (main/login) with the in-memory fakes of
// test/unit/login-fakes.ts: two controllers driven the way the renderer drives them (submitQr with the
// QR bytes, the check code, the account confirmation), checking the events the screens get, that every
// event passes the IPC table's schema, and the error mapping.
import { describe, test, expect } from "@jest/globals";
import { LoginFlowController, type LoginEnvironment } from "../../main/app/flow-controller.js";
import { outcomeToEvent } from "../../main/app/outcome-event.js";
import type { ControllerEvent } from "../../main/app/ipc.js";
import * as v from "valibot";
import { ProgressEvent } from "../../contract/schemas.js";
import { FakeHomeserver, FakeRendezvous, USER_ID, fakeDiscoveryFetch, fakeSecrets, type ConsentDecision } from "./login-fakes.js";
import { createHomeserverPort } from "../../main/login/matrix/homeserver.js";
import { AccountNotVerifiedError } from "../../main/app/account.js";
import type { FlowOutcome } from "../../main/login/flows/ports.js";

const RENDEZVOUS_URL = "https://rendezvous.example.net/";

class Recorder {
  readonly events: ControllerEvent[] = [];
  private waiters: (() => void)[] = [];
  readonly emit = (e: ControllerEvent): void => {
    // Every event must be what the IPC layer accepts: a schema mismatch would silently drop it.
    expect(() => v.parse(ProgressEvent, { ...e, flowId: 1 })).not.toThrow();
    this.events.push(e);
    for (const w of this.waiters.splice(0)) w();
  };
  async next<T extends ControllerEvent["type"]>(type: T, timeout = 3000): Promise<Extract<ControllerEvent, { type: T }>> {
    const end = Date.now() + timeout;
    for (;;) {
      const hit = this.events.find((e) => e.type === type);
      if (hit) return hit as Extract<ControllerEvent, { type: T }>;
      if (Date.now() > end) throw new Error(`no ${type} event; got ${this.events.map((e) => e.type).join(",")}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }
  types(): string[] {
    return this.events.map((e) => (e.type === "state" ? `state:${e.state}` : e.type));
  }
}

function secretsTrail(r: Recorder): string[] {
  return r.events.filter((e): e is Extract<ControllerEvent, { type: "secrets" }> => e.type === "secrets").map((e) => `${e.step}:${e.status}`);
}

/** Runs a whole sign-in (existing device scans) and returns the new device's recorder. */
async function signIn(ctx: ReturnType<typeof setup>): Promise<Recorder> {
  const n = new Recorder();
  const o = new Recorder();
  await ctx.newCtl.start({ role: "new", side: "show" }, n.emit);
  await ctx.oldCtl.start({ role: "existing", side: "scan" }, o.emit);
  await ctx.oldCtl.submitQr((await n.next("qr")).payload);
  await ctx.newCtl.submitCheckCode((await o.next("check_code")).code);
  await n.next("confirm_account");
  await ctx.newCtl.confirmAccount(true);
  await o.next("success");
  return n;
}

function setup(consent: ConsentDecision | "none" = "approve") {
  const hs = new FakeHomeserver();
  const net = new FakeRendezvous();
  const opened: string[] = [];
  const base = { rendezvousUrl: RENDEZVOUS_URL, clientMetadata: { client_name: "test", client_uri: "https://example.org/", application_type: "native" as const }, lingerMs: 20 };
  const newEnv: LoginEnvironment = {
    ...base,
    existingAccount: async () => null,
    openVerificationPage: async () => undefined,
    ports: { channel: net.port("new"), oauth: hs.oauth(), newDeviceMatrix: hs.newDeviceMatrix(), homeserver: createHomeserverPort({ fetch: fakeDiscoveryFetch() }) },
  };
  const existingEnv: LoginEnvironment = {
    ...base,
    existingAccount: async () => ({ userId: USER_ID, matrix: hs.existingDeviceMatrix(fakeSecrets()) }),
    openVerificationPage: async (uri) => {
      opened.push(uri);
      if (consent !== "none") setTimeout(() => hs.decide(uri, consent), 5);
    },
    ports: { channel: net.port("existing"), oauth: hs.oauth() },
  };
  return { hs, net, opened, newCtl: new LoginFlowController("new", newEnv), oldCtl: new LoginFlowController("existing", existingEnv) };
}

describe("both controllers, existing device scans", () => {
  test("full sign-in: the screens' events in order, success on both", async () => {
    const { newCtl, oldCtl, opened } = setup();
    const n = new Recorder();
    const o = new Recorder();
    await newCtl.start({ role: "new", side: "show" }, n.emit);
    await oldCtl.start({ role: "existing", side: "scan" }, o.emit);
    const qr = await n.next("qr");
    expect(qr.expiresAt).toBeGreaterThan(Date.now());
    await oldCtl.submitQr(qr.payload);
    const code = await o.next("check_code");
    await n.next("check_code_prompt");
    await newCtl.submitCheckCode(code.code);
    const userCode = await n.next("user_code");
    expect(userCode.userCode.length).toBeGreaterThan(0);
    const ob = await o.next("open_browser");
    expect(opened).toEqual([ob.verificationUri]);
    const confirm = await n.next("confirm_account");
    expect(confirm).toMatchObject({ userId: USER_ID, homeserver: "https://hs.example.org/", deviceId: "NEWDEVICE1" });
    await newCtl.confirmAccount(true);
    const ok = await n.next("success");
    expect(ok).toEqual({ type: "success", userId: USER_ID, deviceId: "NEWDEVICE1", verified: true });
    expect((await o.next("success")).deviceId).toBe("NEWDEVICE1");
    // Each step goes active, then done, in the order the import does the work; the first two (one
    // bundle import) start together.
    expect(secretsTrail(n)).toEqual([
      "cross_signing_keys:active", "backup_key:active",
      "cross_signing_keys:done", "backup_key:done",
      "device_signed:active", "device_signed:done",
      "keys_uploaded:active", "keys_uploaded:done",
      "backup_connected:active", "backup_connected:done",
    ]);
    expect(n.types()).toEqual(expect.arrayContaining(["state:starting", "qr", "state:waiting_for_scan", "check_code_prompt", "user_code", "waiting_for_consent", "confirm_account", "state:completing", "success"]));
    expect(o.types()).toEqual(expect.arrayContaining(["state:starting", "state:connecting", "check_code", "open_browser", "success"]));
    // the fallback button re-opens the same page
    await oldCtl.openVerificationUri();
    expect(opened).toEqual([ob.verificationUri, ob.verificationUri]);
  });

  test("2024 version: each screen learns the version from a protocol event; both sign in", async () => {
    const ctx = setup();
    ctx.net.offers = "2024";
    const n = await signIn(ctx);
    expect(n.events.find((e) => e.type === "protocol")).toEqual({ type: "protocol", version: "2024" });
    expect(n.types().indexOf("protocol")).toBeLessThan(n.types().indexOf("qr"));
    expect(await n.next("success")).toMatchObject({ verified: true });
  });

  test("a QR that is not a sign-in code is refused, and scanning goes on", async () => {
    const { newCtl, oldCtl } = setup();
    const n = new Recorder();
    const o = new Recorder();
    await oldCtl.start({ role: "existing", side: "scan" }, o.emit);
    // prechecks run before the scanner is ready; wait until it is
    await new Promise((r) => setTimeout(r, 50));
    await expect(oldCtl.submitQr(new TextEncoder().encode("https://example.org/not-a-login"))).rejects.toMatchObject({ flowError: { code: "wrong_qr_code" } });
    await newCtl.start({ role: "new", side: "show" }, n.emit);
    await oldCtl.submitQr((await n.next("qr")).payload);
    await o.next("check_code");
    await Promise.all([newCtl.cancel(), oldCtl.cancel()]);
  });

  test("a wrong check code ends with check_code_mismatch on the new device", async () => {
    const { newCtl, oldCtl } = setup();
    const n = new Recorder();
    const o = new Recorder();
    await newCtl.start({ role: "new", side: "show" }, n.emit);
    await oldCtl.start({ role: "existing", side: "scan" }, o.emit);
    await oldCtl.submitQr((await n.next("qr")).payload);
    const code = (await o.next("check_code")).code;
    await n.next("check_code_prompt");
    await newCtl.submitCheckCode(code === "10" ? "11" : "10");
    expect((await n.next("error")).error.code).toBe("check_code_mismatch");
    await oldCtl.cancel();
  });

  test("consent denied: declined on both", async () => {
    const { newCtl, oldCtl } = setup("deny");
    const n = new Recorder();
    const o = new Recorder();
    await newCtl.start({ role: "new", side: "show" }, n.emit);
    await oldCtl.start({ role: "existing", side: "scan" }, o.emit);
    await oldCtl.submitQr((await n.next("qr")).payload);
    await newCtl.submitCheckCode((await o.next("check_code")).code);
    expect((await n.next("error")).error.code).toBe("user_declined");
    expect((await o.next("error")).error.code).toBe("user_declined");
  });

  test("cancel on the new device: no error screen locally, the existing device hears user_cancelled", async () => {
    const { newCtl, oldCtl } = setup("none");
    const n = new Recorder();
    const o = new Recorder();
    await newCtl.start({ role: "new", side: "show" }, n.emit);
    await oldCtl.start({ role: "existing", side: "scan" }, o.emit);
    await oldCtl.submitQr((await n.next("qr")).payload);
    await newCtl.submitCheckCode((await o.next("check_code")).code);
    await n.next("user_code");
    await newCtl.cancel();
    expect(n.events.some((e) => e.type === "error")).toBe(false);
    const err = (await o.next("error", 5000)).error;
    expect(err).toMatchObject({ code: "user_cancelled", reason: "user_cancelled" });
  });

  test("requests out of turn are refused as invalid_request", async () => {
    const { newCtl } = setup();
    const n = new Recorder();
    await newCtl.start({ role: "new", side: "show" }, n.emit);
    await n.next("qr");
    await expect(newCtl.submitCheckCode("42")).rejects.toMatchObject({ flowError: { code: "invalid_request" } });
    await expect(newCtl.confirmAccount(true)).rejects.toMatchObject({ flowError: { code: "invalid_request" } });
    await expect(newCtl.submitQr(new Uint8Array([1]))).rejects.toMatchObject({ flowError: { code: "invalid_request" } });
    await expect(newCtl.openVerificationUri()).rejects.toMatchObject({ flowError: { code: "invalid_request" } });
    await newCtl.cancel();
  });

  test("an app without an account cannot start the existing role", async () => {
    const { newCtl } = setup();
    // newCtl's environment has no account: use it for the existing role
    const ctl = new LoginFlowController("existing", (newCtl as unknown as { env: LoginEnvironment }).env);
    await expect(ctl.start({ role: "existing", side: "scan" }, () => undefined)).rejects.toMatchObject({ flowError: { code: "other_device_not_signed_in" } });
  });
  test("a signed-in device that is not verified refuses the existing role with its own screen", async () => {
    const { newCtl } = setup();
    const env = { ...(newCtl as unknown as { env: LoginEnvironment }).env, existingAccount: async () => Promise.reject(new AccountNotVerifiedError("@alice:localhost")) };
    const ctl = new LoginFlowController("existing", env);
    await expect(ctl.start({ role: "existing", side: "scan" }, () => undefined)).rejects.toMatchObject({
      flowError: { code: "device_not_verified", message: expect.stringContaining("@alice:localhost") },
    });
  });

  test("a session that reports no steps: the final verified state fills them in (fallback)", async () => {
    const ctx = setup();
    ctx.hs.importSteps = "silent";
    const n = await signIn(ctx);
    await n.next("success");
    expect(secretsTrail(n)).toEqual([
      "cross_signing_keys:active", "backup_key:active",
      "cross_signing_keys:done", "backup_key:done", "device_signed:done", "keys_uploaded:done", "backup_connected:done",
    ]);
  });

  test("an import failing part-way: the steps stop at the failed one, then an error", async () => {
    const ctx = setup();
    ctx.hs.importFailsAt = "device_signed";
    const n = await signIn(ctx);
    await n.next("error");
    expect(secretsTrail(n)).toEqual([
      "cross_signing_keys:active", "backup_key:active",
      "cross_signing_keys:done", "backup_key:done",
      "device_signed:active", "device_signed:failed",
    ]);
    expect(n.events.some((e) => e.type === "success")).toBe(false);
  });
});

describe("outcome mapping", () => {
  test.each<[FlowOutcome, string | null, string | undefined]>([
    [{ outcome: "cancelled" }, null, undefined],
    [{ outcome: "declined", side: "peer" }, "user_declined", undefined],
    [{ outcome: "failure", reason: "authorization_expired", side: "peer" }, "expired", "authorization_expired"],
    [{ outcome: "failure", reason: "device_not_found", side: "local" }, "device_not_found", "device_not_found"],
    [{ outcome: "expired", retry: true }, "expired", undefined],
    [{ outcome: "closed" }, "user_cancelled", undefined],
    [{ outcome: "insecure_channel" }, "insecure_channel_detected", undefined],
    [{ outcome: "qr_rejected", reason: "invalid_qr" }, "wrong_qr_code", undefined],
    [{ outcome: "qr_rejected", reason: "other_device_not_signed_in" }, "other_device_not_signed_in", undefined],
    [{ outcome: "not_supported", reason: "oauth_unavailable", detail: "no OAuth" }, "homeserver_lacks_support", undefined],
    [{ outcome: "error", code: "import_failed", detail: "/home/x/secret: boom" }, "unknown", undefined],
  ])("%j → %s", (o, code, reason) => {
    const e = outcomeToEvent(o, "new", USER_ID);
    if (code === null) return expect(e).toBeNull();
    expect(e).toMatchObject({ type: "error", error: { code } });
    const err = (e as Extract<ControllerEvent, { type: "error" }>).error;
    expect(err.reason).toBe(reason);
    expect(err.message).not.toContain("/home/x");
    expect(() => v.parse(ProgressEvent, { ...e!, flowId: 1 })).not.toThrow();
  });
});
