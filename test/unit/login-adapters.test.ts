// The adapters' translation layer: protocol-core failures → ChannelError kinds the flows switch on,
// QR decoding through the real codec, and whoami on the new device's Matrix port.

import { describe, expect, test } from "@jest/globals";
import { CHANNEL_FAILURES } from "../../contract/failures.js";
import { channelErrorKind } from "../../main/login/channel/errors.js";
import { createNewDeviceMatrixPort } from "../../main/login/matrix/port.js";
import { createSecureChannelPort } from "../../main/login/channel/port.js";
import { PROTOCOL_ERROR_CODES, type ProtocolErrorCode } from "../../main/protocol/errors.js";
import { encodeQr } from "../../main/protocol/qr.js";
import { encodeQr2024 } from "../../main/protocol-2024/qr.js";
import { ChannelError, type AuthMetadata } from "../../main/login/flows/ports.js";

describe("channelErrorKind", () => {
  test.each<[ProtocolErrorCode, string]>([
    ["rendezvous_expired", "expired"],
    ["rendezvous_not_found", "closed"],
    ["rendezvous_closed", "closed"],
    ["check_code_mismatch", "check_code_mismatch"],
    ["decryption_failed", "insecure_channel"],
    ["unexpected_handshake_message", "insecure_channel"],
    ["rendezvous_concurrent_write", "insecure_channel"],
    ["qr_invalid_prefix", "invalid_qr"],
    ["unexpected_intent", "invalid_qr"],
    ["rendezvous_unavailable", "rendezvous_unavailable"],
    ["rendezvous_forbidden", "rendezvous_unavailable"],
    ["rendezvous_too_large", "network"],
    ["rendezvous_network", "network"],
    ["cancelled", "cancelled"],
  ])("%s → %s", (code, kind) => {
    expect(channelErrorKind(code)).toBe(kind);
  });

  test("every core code maps to a kind", () => {
    const kinds = new Set<string>([...CHANNEL_FAILURES, "cancelled"]);
    for (const code of PROTOCOL_ERROR_CODES) expect(kinds.has(channelErrorKind(code))).toBe(true);
  });
});

describe("createSecureChannelPort().decodeQr", () => {
  const port = createSecureChannelPort();
  const publicKey = new Uint8Array(32).fill(7);

  test("version, intent and homeserver of a real QR of either version", () => {
    const qr = encodeQr({ intent: "reciprocate", publicKey, rendezvousId: "abc123", baseUrl: "https://hs.example.org/" });
    expect(port.decodeQr(qr)).toEqual({ version: "2025", intent: "reciprocate", homeserver: { baseUrl: expect.stringMatching(/^https:\/\/hs\.example\.org\/?$/) } });
    // A 2025 login QR's base URL is only the rendezvous server: it names no homeserver.
    expect(port.decodeQr(encodeQr({ intent: "login", publicKey, rendezvousId: "abc123", baseUrl: "https://rz.example.org/" }))).toEqual({ version: "2025", intent: "login" });
    const recip2024 = encodeQr2024({ intent: "reciprocate", publicKey, rendezvousUrl: "https://hs.example.org/_synapse/client/rendezvous/X", serverName: "example.org" });
    expect(port.decodeQr(recip2024)).toEqual({ version: "2024", intent: "reciprocate", homeserver: { serverName: "example.org" } });
    expect(port.decodeQr(encodeQr2024({ intent: "login", publicKey, rendezvousUrl: "https://hs.example.org/r/1" }))).toEqual({ version: "2024", intent: "login" });
  });

  test("both id-length forms and bytes after the URL (the app's and the CLI's scan path)", () => {
    for (const idLengthBytes of [1, 2] as const) {
      const qr = encodeQr({ intent: "reciprocate", publicKey, rendezvousId: "abc123", baseUrl: "https://hs.example.org/m/" }, "element-2026", { idLengthBytes });
      expect(port.decodeQr(Uint8Array.from([...qr, 1, 2, 3]))).toEqual({ version: "2025", intent: "reciprocate", homeserver: { baseUrl: "https://hs.example.org/m/" } });
    }
  });

  test("garbage is a ChannelError invalid_qr", () => {
    let err: unknown;
    try {
      port.decodeQr(new Uint8Array(Buffer.from("https://example.com/")));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ChannelError);
    expect((err as ChannelError).kind).toBe("invalid_qr");
  });
});

describe("createNewDeviceMatrixPort whoami", () => {
  test("sends the bearer token to /account/whoami on the base URL and fails on HTTP errors", async () => {
    const seen: Array<{ url: string; auth: string | null }> = [];
    const fetchOk = async (input: string, init: RequestInit): Promise<Response> => {
      seen.push({ url: input, auth: new Headers(init.headers).get("authorization") });
      return new Response(JSON.stringify({ user_id: "@a:b" }), { status: 401 });
    };
    const port = createNewDeviceMatrixPort({ fetch: fetchOk });
    await expect(port.createClient({ baseUrl: "https://hs.example.org", deviceId: "D", tokens: { access_token: "tok", token_type: "Bearer" }, metadata: {} as AuthMetadata, clientId: "c" }))
      .rejects.toThrow("whoami: HTTP 401");
    expect(seen).toEqual([{ url: "https://hs.example.org/_matrix/client/v3/account/whoami", auth: "Bearer tok" }]);
  });
});
