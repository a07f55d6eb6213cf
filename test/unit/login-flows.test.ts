// Unit tests of the MSC4108 state machines: both devices wired back to back through the in-memory
// secure channel and fake OAuth / Matrix ports, in both pairings (so all four roles), plus every
// failure path of docs/architecture.md "Failure catalogue", each asserting what BOTH sides report.

import { describe, expect, test } from "@jest/globals";
import { isOpenableUrl } from "../../main/login/url-policy.js";
import type { FlowEvent, FlowOutcome, FlowStage, ProtocolVersion } from "../../main/login/flows/ports.js";
import { encodeFakeQr, fakeSecrets, HS_BASE_URL, SERVER_NAME, USER_ID, type Device } from "./login-fakes.js";
import { runPair, statesOf, type Pairing, type PairResult, type Scenario } from "./login-harness.js";

const PAIRINGS: Pairing[] = ["new_generates", "existing_generates"];
const VERSIONS: ProtocolVersion[] = ["2025", "2024"];

const peerFailure = (reason: string): Partial<FlowOutcome> => ({ outcome: "failure", reason, side: "peer" } as Partial<FlowOutcome>);
const localFailure = (reason: string): Partial<FlowOutcome> => ({ outcome: "failure", reason, side: "local" } as Partial<FlowOutcome>);

function noSecretsLeft(r: PairResult): void {
  expect(r.net.sentTypes("existing")).not.toContain("m.login.secrets");
  expect(r.hs.importedBundles).toHaveLength(0);
}

function eventsAreClean(r: PairResult): void {
  for (const side of ["new", "existing"] as Device[]) {
    if (r.events[side].length === 0) continue; // that side never started (its peer gave up first)
    const json = JSON.stringify(r.events[side]);
    // Serialisable as-is (what the renderer receives over IPC).
    expect(JSON.parse(json)).toEqual(r.events[side]);
    expect(json).not.toContain("at-"); // access tokens
    expect(json).not.toContain("device_code");
    if (!(r.secrets instanceof Error)) {
      for (const secret of [r.secrets.cross_signing.master_key, r.secrets.cross_signing.self_signing_key, r.secrets.cross_signing.user_signing_key, r.secrets.backup?.key]) {
        if (secret) expect(json).not.toContain(secret);
      }
    }
    // Exactly one outcome event, the last one.
    const outcomes = r.events[side].filter((e) => e.type === "outcome");
    expect(outcomes).toHaveLength(1);
    expect(r.events[side].at(-1)!.type).toBe("outcome");
  }
}

function eventOf<T extends FlowEvent["type"]>(events: FlowEvent[], type: T): Extract<FlowEvent, { type: T }> | undefined {
  return events.find((e) => e.type === type) as Extract<FlowEvent, { type: T }> | undefined;
}

describe("happy path", () => {
  test("existing device scans the new device's QR (headline)", async () => {
    const r = await runPair({ pairing: "new_generates" });
    expect(r.new).toEqual({ outcome: "success", userId: USER_ID, deviceId: "NEWDEVICE1", crossSigned: true, backup: true });
    expect(r.existing).toEqual({ outcome: "success", deviceId: "NEWDEVICE1" });
    expect(r.net.sentTypes()).toEqual(["m.login.protocols", "m.login.protocol", "m.login.protocol_accepted", "m.login.success", "m.login.secrets"]);
    expect(r.net.sent[0]!.message).toEqual({ type: "m.login.protocols", protocols: ["device_authorization_grant"], base_url: HS_BASE_URL });
    expect(r.hs.importedBundles).toEqual([r.secrets]);
    expect(r.openedUris).toEqual([expect.stringMatching(/^https:\/\/auth\.example\.org\/link\?code=/)]);
    expect(r.hs.scopeFlavours).toEqual(["stable"]);
    // The new device deletes the rendezvous session once it has read the secrets.
    const [session] = [...r.net.sessions.values()];
    expect(session!.status).toBe("deleted");
    expect(session!.deletedBy).toBe("new");
    expect(statesOf(r.events.new)).toEqual(["creating_qr", "showing_qr", "check_code_entry", "waiting_for_protocols", "oauth_discovery", "device_authorization", "waiting_for_accept", "waiting_for_consent", "confirm_account", "waiting_for_secrets", "importing", "done"]);
    expect(statesOf(r.events.existing)).toEqual(["prechecks", "scanning", "connecting", "showing_check_code", "waiting_for_protocol", "checking_device", "opening_browser", "waiting_for_outcome", "waiting_for_device", "transferring_secrets", "done"]);
    expect(eventOf(r.events.new, "user_code")).toMatchObject({ userCode: "ABCD-1234", verificationUri: "https://auth.example.org/link" });
    expect(eventOf(r.events.new, "confirm_account")).toEqual({ type: "confirm_account", userId: USER_ID });
    expect(eventOf(r.events.new, "verified")).toEqual({ type: "verified", crossSigned: true, backup: true });
    // Each secrets step as the import did it, in order, after "importing" and before "verified".
    const tail = r.events.new.filter((e) => e.type === "importing" || e.type === "secrets_step" || e.type === "verified");
    expect(tail).toEqual([
      { type: "importing" },
      { type: "secrets_step", step: "cross_signing_keys", status: "done" },
      { type: "secrets_step", step: "backup_key", status: "done" },
      { type: "secrets_step", step: "device_signed", status: "done" },
      { type: "secrets_step", step: "keys_uploaded", status: "done" },
      { type: "secrets_step", step: "backup_connected", status: "done" },
      { type: "verified", crossSigned: true, backup: true },
    ]);
    expect(eventOf(r.events.existing, "check_code")!.code).toMatch(/^[1-9][0-9]$/);
    eventsAreClean(r);
  });

  test("new device scans the existing device's QR", async () => {
    const r = await runPair({ pairing: "existing_generates", scopes: "unstable", secrets: fakeSecrets(false) });
    expect(r.new).toEqual({ outcome: "success", userId: USER_ID, deviceId: "NEWDEVICE1", crossSigned: true, backup: false });
    expect(r.existing).toEqual({ outcome: "success", deviceId: "NEWDEVICE1" });
    // No m.login.protocols: the QR's base URL is the homeserver.
    expect(r.net.sentTypes()).toEqual(["m.login.protocol", "m.login.protocol_accepted", "m.login.success", "m.login.secrets"]);
    expect(r.hs.importedBundles).toEqual([r.secrets]);
    expect(r.hs.scopeFlavours).toEqual(["unstable"]);
    expect([...r.net.sessions.values()][0]!.deletedBy).toBe("new");
    expect(statesOf(r.events.new)).toEqual(["scanning", "connecting", "showing_check_code", "oauth_discovery", "device_authorization", "waiting_for_accept", "waiting_for_consent", "confirm_account", "waiting_for_secrets", "importing", "done"]);
    expect(statesOf(r.events.existing)).toEqual(["prechecks", "creating_qr", "showing_qr", "check_code_entry", "waiting_for_protocol", "checking_device", "opening_browser", "waiting_for_outcome", "waiting_for_device", "transferring_secrets", "done"]);
    expect(eventOf(r.events.new, "homeserver")).toEqual({ type: "homeserver", baseUrl: HS_BASE_URL });
    // No backup in the bundle: both backup steps report failed, the others done.
    expect(r.events.new.filter((e) => e.type === "secrets_step").map((e) => e.type === "secrets_step" && `${e.step}:${e.status}`)).toEqual(
      ["cross_signing_keys:done", "backup_key:failed", "device_signed:done", "keys_uploaded:done", "backup_connected:failed"],
    );
    eventsAreClean(r);
  });

  test("an import failing part-way: the steps done so far, the failed one, then import_failed", async () => {
    const r = await runPair({ pairing: "new_generates", setup: (hs) => { hs.importFailsAt = "keys_uploaded"; } });
    expect(r.new).toMatchObject({ outcome: "error", code: "import_failed" });
    expect(r.events.new.filter((e) => e.type === "secrets_step").map((e) => e.type === "secrets_step" && `${e.step}:${e.status}`)).toEqual(
      ["cross_signing_keys:done", "backup_key:done", "device_signed:done", "keys_uploaded:failed"],
    );
    expect(eventOf(r.events.new, "verified")).toBeUndefined();
    eventsAreClean(r);
  });

  test.each(PAIRINGS)("%s: the device appearing late (within 10 s) still gets the secrets", async (pairing) => {
    const r = await runPair({ pairing, setup: (hs) => { hs.deviceAppears = { afterMs: 60 }; } });
    expect(r.new.outcome).toBe("success");
    expect(r.existing.outcome).toBe("success");
  });
});

// Every failure path in both versions: the flows are one implementation over the version-specific ports.
describe.each(PAIRINGS.flatMap((p) => VERSIONS.map((v) => [p, v] as const)))("failures (%s, %s version)", (pairing, version) => {
  const run = (s: Omit<Scenario, "pairing" | "offers">): Promise<PairResult> => runPair({ pairing, offers: version, ...s });
  test("deny: access_denied → m.login.declined", async () => {
    const r = await run({ consent: "deny" });
    expect(r.new).toEqual({ outcome: "declined", side: "local" });
    expect(r.existing).toEqual({ outcome: "declined", side: "peer" });
    expect(r.net.sentTypes("new")).toContain("m.login.declined");
    noSecretsLeft(r);
    eventsAreClean(r);
  });

  test("grant expiry → m.login.failure authorization_expired", async () => {
    const r = await run({ consent: "expire" });
    expect(r.new).toMatchObject(localFailure("authorization_expired"));
    expect(r.existing).toMatchObject(peerFailure("authorization_expired"));
    noSecretsLeft(r);
  });

  test("device already exists → device_already_exists, browser never opened", async () => {
    const r = await run({ setup: (hs) => { hs.nextDeviceId = "EXISTINGDEV"; } });
    expect(r.existing).toMatchObject(localFailure("device_already_exists"));
    expect(r.new).toMatchObject(peerFailure("device_already_exists"));
    expect(r.openedUris).toEqual([]);
    noSecretsLeft(r);
  });

  test("device never appears → device_not_found, no secrets", async () => {
    const r = await run({ setup: (hs) => { hs.deviceAppears = "never"; } });
    expect(r.existing).toMatchObject(localFailure("device_not_found"));
    expect(r.new).toMatchObject(peerFailure("device_not_found"));
    noSecretsLeft(r);
    eventsAreClean(r);
  });

  test("unsupported protocol requested by the new device", async () => {
    const r = await runPair({
      pairing,
      setup: (_hs, net) => {
        net.tamper = (_from, m) => (m["type"] === "m.login.protocol" ? { ...m, protocol: "magic_link" } : m);
      },
    });
    expect(r.existing).toMatchObject(localFailure("unsupported_protocol"));
    // The existing device names its homeserver so the user can sign in manually.
    expect(r.new).toEqual({ outcome: "failure", reason: "unsupported_protocol", side: "peer", homeserver: "example.org" });
    expect(r.openedUris).toEqual([]);
  });

  test("new device cannot register an OAuth client → unsupported_protocol", async () => {
    const r = await run({ setup: (hs) => { hs.registrationFails = true; } });
    expect(r.new).toMatchObject(localFailure("unsupported_protocol"));
    expect(r.existing).toMatchObject(peerFailure("unsupported_protocol"));
  });

  test("wrong check code: the generator refuses, the scanner sees the session end", async () => {
    const r = await run({ wrongCode: true });
    const generator = pairing === "new_generates" ? r.new : r.existing;
    const scanner = pairing === "new_generates" ? r.existing : r.new;
    expect(generator).toEqual({ outcome: "check_code_mismatch" });
    expect(scanner).toEqual({ outcome: "closed" });
    // Nothing was sent by the generator, and the new device never started OAuth as generator.
    expect(r.net.sentTypes(pairing === "new_generates" ? "new" : "existing")).toEqual([]);
    noSecretsLeft(r);
  });

  test.each([
    ["a valid message out of order", { type: "m.login.success" }],
    ["an unknown type", { type: "m.login.bogus" }],
    ["a malformed message", { type: "m.login.protocol_accepted_typo" }],
  ])("unexpected message (%s) → unexpected_message_received", async (_name, replacement) => {
    const r = await runPair({
      pairing,
      setup: (_hs, net) => {
        net.tamper = (_from, m) => (m["type"] === "m.login.protocol_accepted" ? replacement : m);
      },
    });
    expect(r.new).toMatchObject(localFailure("unexpected_message_received"));
    expect(r.existing).toMatchObject(peerFailure("unexpected_message_received"));
    noSecretsLeft(r);
  });

  test("unexpected message received by the existing device", async () => {
    const r = await runPair({
      pairing,
      setup: (_hs, net) => {
        net.tamper = (_from, m) => (m["type"] === "m.login.success" ? { type: "m.login.protocol_accepted" } : m);
      },
    });
    expect(r.existing).toMatchObject(localFailure("unexpected_message_received"));
    expect(r.new).toMatchObject(peerFailure("unexpected_message_received"));
    noSecretsLeft(r);
  });

  test("user declines opening the browser → user_cancelled", async () => {
    const r = await run({ openUri: "declined" });
    expect(r.existing).toEqual({ outcome: "cancelled" });
    expect(r.new).toMatchObject(peerFailure("user_cancelled"));
  });

  test("browser cannot be opened → unable_to_open_verification_uri", async () => {
    const r = await run({ openUri: "throw" });
    expect(r.existing).toMatchObject(localFailure("unable_to_open_verification_uri"));
    expect(r.new).toMatchObject(peerFailure("unable_to_open_verification_uri"));
  });

  test.each(["javascript:alert(1)", "http://evil.example/link", "file:///etc/passwd", "intent://x"])("verification URI %s is never opened", async (uri) => {
    const r = await runPair({
      pairing,
      setup: (_hs, net) => {
        net.tamper = (_from, m) => (m["type"] === "m.login.protocol" ? { ...m, device_authorization_grant: { verification_uri: uri, verification_uri_complete: uri } } : m);
      },
    });
    expect(r.openedUris).toEqual([]);
    expect(r.existing).toMatchObject(localFailure("unable_to_open_verification_uri"));
    expect(r.new).toMatchObject(peerFailure("unable_to_open_verification_uri"));
  });

  test("user rejects the account (\"Signed in as @x — continue?\") → tokens revoked, user_cancelled", async () => {
    const r = await run({ confirmAccount: false });
    expect(r.new).toEqual({ outcome: "cancelled" });
    expect(r.existing).toMatchObject(peerFailure("user_cancelled"));
    expect(r.hs.revoked).toEqual(["at-NEWDEVICE1"]);
    expect(r.newSession).toBeUndefined();
    noSecretsLeft(r);
  });

  test("whoami reports another device id → sign-in abandoned", async () => {
    const r = await run({ setup: (hs) => { hs.whoamiDeviceId = "SOMETHINGELSE"; } });
    expect(r.new).toMatchObject({ outcome: "error", code: "device_id_mismatch" });
    expect(r.existing).toMatchObject(peerFailure("user_cancelled"));
    expect(r.hs.revoked).toEqual(["at-NEWDEVICE1"]);
    noSecretsLeft(r);
  });

  test("rendezvous expiry while the QR is shown", async () => {
    const generator: Device = pairing === "new_generates" ? "new" : "existing";
    const r = await run({ expire: { side: generator, at: "showing_qr" } });
    // Only the new device, which chose the rendezvous server, can offer a fresh QR at once.
    expect(pairing === "new_generates" ? r.new : r.existing).toEqual({ outcome: "expired", retry: pairing === "new_generates" });
    expect(pairing === "new_generates" ? r.existing : r.new).toEqual({ outcome: "expired", retry: false });
  });

  test("rendezvous expiry during consent", async () => {
    const r = await run({ consent: "never", expire: { side: "existing", at: "waiting_for_outcome" } });
    expect(r.new).toEqual({ outcome: "expired", retry: pairing === "new_generates" });
    expect(r.existing).toEqual({ outcome: "expired", retry: false });
    noSecretsLeft(r);
  });
});

describe("MSC4108 2024 version: what differs, handled in one place", () => {
  test("headline: the existing device names its homeserver by server name; the new device resolves it through .well-known", async () => {
    const r = await runPair({ pairing: "new_generates", offers: "2024" });
    expect(r.new).toEqual({ outcome: "success", userId: USER_ID, deviceId: "NEWDEVICE1", crossSigned: true, backup: true });
    expect(r.existing).toEqual({ outcome: "success", deviceId: "NEWDEVICE1" });
    // matrix-js-sdk's existing device sends exactly this: `homeserver: client.getDomain()`.
    expect(r.net.sent[0]!.message).toEqual({ type: "m.login.protocols", protocols: ["device_authorization_grant"], homeserver: SERVER_NAME });
    expect(eventOf(r.events.new, "protocol")).toEqual({ type: "protocol", version: "2024" });
    expect(eventOf(r.events.existing, "protocol")).toEqual({ type: "protocol", version: "2024" });
    expect(eventOf(r.events.new, "homeserver")).toEqual({ type: "homeserver", baseUrl: HS_BASE_URL });
    // Same messages, same states as the 2025 version.
    expect(r.net.sentTypes()).toEqual(["m.login.protocols", "m.login.protocol", "m.login.protocol_accepted", "m.login.success", "m.login.secrets"]);
    eventsAreClean(r);
  });

  test("reverse: the reciprocate QR carries the server name (with the existing device's 2024 fallback rendezvous server passed on)", async () => {
    const r = await runPair({ pairing: "existing_generates", offers: "2024", existingRendezvous: { fallbackRendezvousUrl: "https://rz.example.net/" } });
    expect(r.new.outcome).toBe("success");
    expect(r.existing.outcome).toBe("success");
    expect(r.net.starts[0]).toMatchObject({ rendezvousUrl: HS_BASE_URL, fallbackRendezvousUrl: "https://rz.example.net/", intent: "reciprocate", protocol: "auto", serverName: SERVER_NAME });
    expect(eventOf(r.events.new, "homeserver")).toEqual({ type: "homeserver", baseUrl: HS_BASE_URL });
  });

  test("--protocol is passed to the generator; the scanner takes the QR's version", async () => {
    const r = await runPair({ pairing: "new_generates", protocol: { new: "2024" } });
    expect(r.net.starts[0]!.protocol).toBe("2024");
    expect(eventOf(r.events.existing, "protocol")).toEqual({ type: "protocol", version: "2024" });
    expect(r.existing.outcome).toBe("success");
  });

  test.each(PAIRINGS)("%s: a forced version on the scanner refuses the other version's QR before any request", async (pairing) => {
    const scanner: Device = pairing === "new_generates" ? "existing" : "new";
    const r = await runPair({ pairing, offers: "2024", protocol: { [scanner]: "2025" } });
    expect(r[scanner]).toMatchObject({ outcome: "qr_rejected", reason: "invalid_qr", detail: expect.stringMatching(/2024 sign-in QR code.*2025 version/) });
    expect(r.net.ops[scanner]).toBe(0);
  });

  test("a pinned homeserver that .well-known confirms: signed in there", async () => {
    const r = await runPair({ pairing: "new_generates", offers: "2024", pinnedHomeserver: "https://hs.example.org" });
    expect(r.new.outcome).toBe("success");
  });

  test("a pinned homeserver where .well-known points elsewhere: homeserver_mismatch before any OAuth request, the peer told", async () => {
    const r = await runPair({ pairing: "new_generates", offers: "2024", pinnedHomeserver: "https://other.example.net/" });
    expect(r.new).toMatchObject({ outcome: "error", code: "homeserver_mismatch", detail: expect.stringContaining("https://other.example.net/") });
    expect(r.existing).toMatchObject(peerFailure("user_cancelled"));
    expect(r.hs.grants.size).toBe(0);
  });

  test("a server name that does not resolve (as the development stack's `localhost`), not pinned: homeserver_unresolved, the peer told", async () => {
    const r = await runPair({ pairing: "existing_generates", offers: "2024", wellKnown: {} });
    expect(r.new).toMatchObject({ outcome: "error", code: "homeserver_unresolved", detail: expect.stringContaining("--homeserver") });
    expect(r.existing).toMatchObject(peerFailure("user_cancelled"));
  });

  test.each(PAIRINGS)("%s: a server name that does not resolve, with the homeserver pinned: signed in, the account's server name checked", async (pairing) => {
    const r = await runPair({ pairing, offers: "2024", wellKnown: {}, pinnedHomeserver: HS_BASE_URL });
    expect(r.new).toMatchObject({ outcome: "success", userId: USER_ID });
    expect(r.existing.outcome).toBe("success");
  });

  test("pinned and unresolvable, but the account is on another server than the peer named: tokens revoked, homeserver_mismatch", async () => {
    const r = await runPair({ pairing: "new_generates", offers: "2024", wellKnown: {}, pinnedHomeserver: HS_BASE_URL, setup: (hs) => { hs.serverName = "elsewhere.example"; } });
    expect(r.new).toMatchObject({ outcome: "error", code: "homeserver_mismatch", detail: expect.stringContaining("elsewhere.example") });
    expect(r.existing).toMatchObject(peerFailure("user_cancelled"));
    expect(r.hs.revoked).toEqual(["at-NEWDEVICE1"]);
    noSecretsLeft(r);
  });

  test("2025: a pinned homeserver that is not the one the peer names is a mismatch, never a silent switch", async () => {
    const r = await runPair({ pairing: "existing_generates", pinnedHomeserver: "https://other.example.net/" });
    expect(r.new).toMatchObject({ outcome: "error", code: "homeserver_mismatch" });
    expect(r.hs.grants.size).toBe(0);
  });
});

describe("QR rotation", () => {
  test("a QR that expires before anyone scanned it is replaced, and the fresh one signs in", async () => {
    const r = await runPair({ pairing: "new_generates", qrRotations: 1, scanDelayMs: 20, expire: { side: "new", at: "showing_qr" } });
    const qrs = r.events.new.filter((e) => e.type === "qr");
    expect(qrs).toHaveLength(2);
    expect(qrs[0]).not.toEqual(qrs[1]);
    expect(r.new.outcome).toBe("success");
    expect(r.existing.outcome).toBe("success");
  });

  test("without rotations left, the expiry is the outcome", async () => {
    const r = await runPair({ pairing: "new_generates", qrRotations: 0, scanDelayMs: 20, expire: { side: "new", at: "showing_qr" } });
    expect(r.events.new.filter((e) => e.type === "qr")).toHaveLength(1);
    expect(r.new).toEqual({ outcome: "expired", retry: true });
  });
});

describe("pre-checks and QR checks (before any rendezvous traffic)", () => {
  test("existing device without the device grant fails fast", async () => {
    const r = await runPair({ pairing: "new_generates", setup: (hs) => { hs.metadata.grant_types_supported = ["authorization_code"]; } });
    expect(r.existing).toMatchObject({ outcome: "not_supported", reason: "device_grant_unsupported" });
    expect(r.net.ops.existing).toBe(0);
    // The new device only learns through the session's expiry, and can show a fresh QR.
    expect(r.new).toEqual({ outcome: "expired", retry: true });
  });

  test("existing device without OAuth 2.0 API fails fast", async () => {
    const r = await runPair({ pairing: "existing_generates", setup: (hs) => { hs.discoveryFails = true; } });
    expect(r.existing).toMatchObject({ outcome: "not_supported", reason: "oauth_unavailable" });
    expect(r.net.ops.existing).toBe(0);
  });

  test("existing device without private cross-signing keys fails fast", async () => {
    const r = await runPair({ pairing: "new_generates", secrets: new Error("missing self-signing key") });
    expect(r.existing).toMatchObject({ outcome: "not_supported", reason: "secrets_unavailable" });
    expect(r.net.ops.existing).toBe(0);
  });

  test("existing device generating without a rendezvous API", async () => {
    const r = await runPair({ pairing: "existing_generates", setup: (_hs, net) => { net.createFails = true; } });
    expect(r.existing).toMatchObject({ outcome: "not_supported", reason: "rendezvous_unavailable" });
  });

  test("existing device scanning another signed-in device's QR: 'other device already signed in'", async () => {
    const r = await runPair({ pairing: "new_generates", scannerQr: () => encodeFakeQr({ intent: "reciprocate", baseUrl: HS_BASE_URL, id: "x" }) });
    expect(r.existing).toEqual({ outcome: "qr_rejected", reason: "other_device_already_signed_in" });
    expect(r.net.ops.existing).toBe(0);
  });

  test("existing device scanning something else: 'wrong QR code'", async () => {
    const r = await runPair({ pairing: "new_generates", scannerQr: () => new Uint8Array(Buffer.from("https://example.com")) });
    expect(r.existing).toMatchObject({ outcome: "qr_rejected", reason: "invalid_qr" });
    expect(r.net.ops.existing).toBe(0);
  });

  test("new device scanning another new device's QR: 'other device not signed in'", async () => {
    const r = await runPair({ pairing: "existing_generates", scannerQr: () => encodeFakeQr({ intent: "login", baseUrl: "https://rendezvous.example.net/", id: "x" }) });
    expect(r.new).toEqual({ outcome: "qr_rejected", reason: "other_device_not_signed_in" });
    expect(r.net.ops.new).toBe(0);
    expect(r.existing).toEqual({ outcome: "expired", retry: false });
  });

  test("new device refuses m.login.protocols without the device grant", async () => {
    const r = await runPair({ pairing: "new_generates", setup: (_hs, net) => { net.tamper = (_f, m) => (m["type"] === "m.login.protocols" ? { ...m, protocols: [] } : m); } });
    expect(r.new).toMatchObject(localFailure("unsupported_protocol"));
    expect(r.existing).toMatchObject(peerFailure("unsupported_protocol"));
  });

  test("verification URI policy: https, or http on loopback only", () => {
    expect(isOpenableUrl("https://auth.example.org/link?code=1")).toBe(true);
    expect(isOpenableUrl("http://127.0.0.1:8080/link")).toBe(true);
    expect(isOpenableUrl("http://localhost:8080/link")).toBe(true);
    expect(isOpenableUrl("http://[::1]:8080/link")).toBe(true);
    expect(isOpenableUrl("http://auth.example.org/link")).toBe(false);
    expect(isOpenableUrl("http://127.0.0.1.evil.example/link")).toBe(false);
    expect(isOpenableUrl("https://user:pw@auth.example.org/")).toBe(false);
    expect(isOpenableUrl("not a url")).toBe(false);
  });
});

// Cancellation at every step, on either side. `peer` is what the other device reports.
type CancelCase = [Pairing, Device, FlowStage, Partial<FlowOutcome>];
const USER_CANCELLED = peerFailure("user_cancelled");
const CLOSED = { outcome: "closed" } as Partial<FlowOutcome>;
const cancelCases: CancelCase[] = [
  // New device generates, existing device scans.
  ["new_generates", "new", "showing_qr", CLOSED],
  ["new_generates", "new", "check_code_entry", CLOSED],
  ["new_generates", "new", "waiting_for_protocols", CLOSED], // not our turn to write: DELETE tells the peer
  ["new_generates", "new", "oauth_discovery", USER_CANCELLED],
  ["new_generates", "new", "device_authorization", USER_CANCELLED],
  ["new_generates", "new", "waiting_for_accept", CLOSED], // not our turn to write: DELETE tells the peer
  ["new_generates", "new", "waiting_for_consent", USER_CANCELLED],
  ["new_generates", "new", "confirm_account", USER_CANCELLED],
  ["new_generates", "existing", "prechecks", { outcome: "expired", retry: true }],
  ["new_generates", "existing", "scanning", { outcome: "expired", retry: true }],
  ["new_generates", "existing", "connecting", { outcome: "expired", retry: true }],
  ["new_generates", "existing", "showing_check_code", USER_CANCELLED],
  ["new_generates", "existing", "waiting_for_protocol", CLOSED], // not our turn to write: DELETE tells the peer
  ["new_generates", "existing", "checking_device", USER_CANCELLED],
  ["new_generates", "existing", "opening_browser", USER_CANCELLED],
  ["new_generates", "existing", "waiting_for_outcome", CLOSED], // not our turn to write: DELETE tells the peer
  ["new_generates", "existing", "waiting_for_device", USER_CANCELLED],
  ["new_generates", "existing", "transferring_secrets", USER_CANCELLED],
  // Existing device generates, new device scans.
  ["existing_generates", "existing", "prechecks", { outcome: "cancelled" }],
  ["existing_generates", "existing", "showing_qr", CLOSED],
  ["existing_generates", "existing", "check_code_entry", CLOSED],
  ["existing_generates", "existing", "waiting_for_protocol", CLOSED], // not our turn to write: DELETE tells the peer
  ["existing_generates", "existing", "checking_device", USER_CANCELLED],
  ["existing_generates", "existing", "opening_browser", USER_CANCELLED],
  ["existing_generates", "existing", "waiting_for_outcome", CLOSED], // not our turn to write: DELETE tells the peer
  ["existing_generates", "existing", "waiting_for_device", USER_CANCELLED],
  ["existing_generates", "existing", "transferring_secrets", USER_CANCELLED],
  ["existing_generates", "new", "scanning", { outcome: "expired", retry: false }],
  ["existing_generates", "new", "connecting", { outcome: "expired", retry: false }],
  ["existing_generates", "new", "showing_check_code", USER_CANCELLED],
  ["existing_generates", "new", "oauth_discovery", USER_CANCELLED],
  ["existing_generates", "new", "device_authorization", USER_CANCELLED],
  ["existing_generates", "new", "waiting_for_accept", CLOSED], // not our turn to write: DELETE tells the peer
  ["existing_generates", "new", "waiting_for_consent", USER_CANCELLED],
  ["existing_generates", "new", "confirm_account", USER_CANCELLED],
];

describe.each(VERSIONS)("cancel on either side at every step (%s version)", (version) => {
  test.each(cancelCases)("%s: %s cancels at %s", async (pairing, side, at, peerExpected) => {
    const r = await runPair({ pairing, offers: version, cancel: { side, at }, consent: at === "waiting_for_outcome" || at === "waiting_for_consent" ? "never" : "approve" });
    const other: Device = side === "new" ? "existing" : "new";
    expect(r[side]).toEqual({ outcome: "cancelled" });
    expect(r[other]).toMatchObject(peerExpected);
    noSecretsLeft(r);
    // A device that cancelled after the channel was up told its peer why.
    if (peerExpected === USER_CANCELLED) expect(r.net.sent.filter((m) => m.from === side).at(-1)!.message).toEqual({ type: "m.login.failure", reason: "user_cancelled" });
    // Every session ends deleted or expired.
    for (const session of r.net.sessions.values()) expect(session.status).not.toBe("alive");
    eventsAreClean(r);
  });

  test.each(PAIRINGS)("%s: cancel after m.login.success: the session is deleted before the secrets go out", async (pairing) => {
    const r = await runPair({ pairing, offers: version, cancel: { side: "new", at: "waiting_for_secrets" } });
    expect(r.new).toEqual({ outcome: "cancelled" });
    expect(r.existing).toEqual({ outcome: "closed" });
    noSecretsLeft(r);
  });
});
