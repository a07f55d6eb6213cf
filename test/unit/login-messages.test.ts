import { describe, expect, test } from "@jest/globals";
import { randomBytes } from "node:crypto";
import {
  AEAD_TAG_BYTES,
  FAILURE_REASONS,
  MAX_DEVICE_ID_LENGTH,
  MAX_PROTOCOLS,
  MAX_SHORT_STRING_LENGTH,
  MAX_URL_LENGTH,
  MessageError,
  RENDEZVOUS_MAX_DATA_BYTES,
  parseLoginMessage,
  sealedSize,
  secretsMessage,
  serialiseLoginMessage,
  unpaddedBase64Length,
  type LoginMessage,
} from "../../main/login/flows/messages.js";
import { vector } from "../support/fixtures.js";
import { dialectFor } from "../../main/login/flows/dialect.js";

const rust = vector("rust-pr6173-msc4108-payload-json").data.messages as Record<string, Record<string, unknown>>;

const key32 = (): string => randomBytes(32).toString("base64").replace(/=+$/, "");

function expectUnexpected(value: unknown): void {
  let error: unknown;
  try {
    parseLoginMessage(value);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(MessageError);
  expect((error as MessageError).reason).toBe("unexpected_message_received");
}

describe("rust-sdk vectors", () => {
  test.each(Object.keys(rust).filter((k) => k !== "test_protocols_serialization_msc_4108"))("%s round-trips", (name) => {
    const json = rust[name]!;
    const parsed = parseLoginMessage(json);
    expect(parsed.type).toBe(json["type"]);
    // Same content and same key order as serde produced.
    expect(JSON.stringify(serialiseLoginMessage(parsed))).toBe(JSON.stringify(json));
  });

  test("legacy 'homeserver' protocols variant (a URL there): both dialects read it as the base URL", () => {
    const legacy = rust["test_protocols_serialization_msc_4108"]!;
    const parsed = parseLoginMessage(legacy);
    expect(parsed).toEqual({ type: "m.login.protocols", protocols: ["device_authorization_grant"], homeserver: "https://matrix-client.matrix.org/" });
    expect(serialiseLoginMessage(parsed)).toEqual(legacy);
    if (parsed.type !== "m.login.protocols") throw new Error("unreachable");
    for (const v of ["2024", "2025"] as const) expect(dialectFor(v).namedHomeserver(parsed)).toEqual({ baseUrl: "https://matrix-client.matrix.org/" });
    // What the 2025 dialect writes for the same homeserver is the MSC4388 variant.
    expect(serialiseLoginMessage(dialectFor("2025").protocolsMessage({ baseUrl: "https://matrix-client.matrix.org/", serverName: "matrix.org" }))).toEqual(rust["test_protocols_serialization_msc_4388"]);
  });
});

describe("dialects: how m.login.protocols names the homeserver", () => {
  const home = { baseUrl: "https://matrix-client.matrix.org/", serverName: "matrix.org" };
  test("2025 writes base_url, 2024 writes homeserver as the server name (as matrix-js-sdk's client.getDomain())", () => {
    expect(serialiseLoginMessage(dialectFor("2025").protocolsMessage(home))).toEqual({ type: "m.login.protocols", protocols: ["device_authorization_grant"], base_url: "https://matrix-client.matrix.org/" });
    expect(serialiseLoginMessage(dialectFor("2024").protocolsMessage(home))).toEqual({ type: "m.login.protocols", protocols: ["device_authorization_grant"], homeserver: "matrix.org" });
  });

  test("what matrix-js-sdk's 2024 existing device sends reads as a server name; a 2025 base_url as a base URL", () => {
    const js = parseLoginMessage({ type: "m.login.protocols", protocols: ["device_authorization_grant"], homeserver: "localhost" });
    const v25 = parseLoginMessage({ type: "m.login.protocols", protocols: ["device_authorization_grant"], base_url: "https://hs.example/" });
    if (js.type !== "m.login.protocols" || v25.type !== "m.login.protocols") throw new Error("unreachable");
    expect(dialectFor("2024").namedHomeserver(js)).toEqual({ serverName: "localhost" });
    expect(dialectFor("2025").namedHomeserver(v25)).toEqual({ baseUrl: "https://hs.example/" });
    // A peer mixing the versions' fields is still understood, each version preferring its own field.
    const both = parseLoginMessage({ type: "m.login.protocols", protocols: [], base_url: "https://hs.example/", homeserver: "example.org" });
    if (both.type !== "m.login.protocols") throw new Error("unreachable");
    expect(dialectFor("2025").namedHomeserver(both)).toEqual({ baseUrl: "https://hs.example/" });
    expect(dialectFor("2024").namedHomeserver(both)).toEqual({ serverName: "example.org" });
  });

  test("rust device id (base64 identity key with '/') is accepted", () => {
    const p = parseLoginMessage(rust["test_protocol_serialization"]);
    expect(p.type === "m.login.protocol" && p.device_id).toBe("wjLpTLRqbqBzLs63aYaEv2Boi6cFEbbM/sSRQ2oAKk4");
  });
});

describe("validation", () => {
  test("every MSC failure reason, with and without homeserver", () => {
    expect(FAILURE_REASONS).toHaveLength(7);
    for (const reason of FAILURE_REASONS) {
      expect(parseLoginMessage({ type: "m.login.failure", reason })).toEqual({ type: "m.login.failure", reason });
      expect(parseLoginMessage({ type: "m.login.failure", reason, homeserver: "matrix.org" })).toEqual({ type: "m.login.failure", reason, homeserver: "matrix.org" });
    }
  });

  test("unknown extra fields are ignored and not re-serialised", () => {
    const p = parseLoginMessage({ type: "m.login.success", extra: 1 });
    expect(serialiseLoginMessage(p)).toEqual({ type: "m.login.success" });
  });

  test("protocol without verification_uri_complete", () => {
    const p = parseLoginMessage({ type: "m.login.protocol", protocol: "device_authorization_grant", device_authorization_grant: { verification_uri: "https://a/link" }, device_id: "ABCDEFGHIJ" });
    expect(serialiseLoginMessage(p)).toEqual({ type: "m.login.protocol", protocol: "device_authorization_grant", device_authorization_grant: { verification_uri: "https://a/link" }, device_id: "ABCDEFGHIJ" });
  });

  test("an unknown protocol parses (the existing device answers unsupported_protocol)", () => {
    const p = parseLoginMessage({ type: "m.login.protocol", protocol: "magic_link", device_id: "ABCDEFGHIJ" });
    expect(p).toEqual({ type: "m.login.protocol", protocol: "magic_link", device_id: "ABCDEFGHIJ" });
  });

  test.each([
    ["not an object", "m.login.success"],
    ["array", [{ type: "m.login.success" }]],
    ["null", null],
    ["unknown type", { type: "m.login.bogus" }],
    ["missing type", { protocols: [] }],
    ["2024 type", { type: "m.login.progress" }],
    ["protocols not array", { type: "m.login.protocols", protocols: "device_authorization_grant", base_url: "https://hs/" }],
    ["protocols with a number", { type: "m.login.protocols", protocols: [1], base_url: "https://hs/" }],
    ["protocols naming no homeserver", { type: "m.login.protocols", protocols: [] }],
    ["protocols homeserver neither server name nor URL", { type: "m.login.protocols", protocols: [], homeserver: "not a server/name" }],
    ["protocols base_url not a URL", { type: "m.login.protocols", protocols: [], base_url: "matrix.org" }],
    ["protocols base_url ftp", { type: "m.login.protocols", protocols: [], base_url: "ftp://hs/" }],
    ["protocol without device_id", { type: "m.login.protocol", protocol: "device_authorization_grant", device_authorization_grant: { verification_uri: "https://a" } }],
    ["protocol empty device_id", { type: "m.login.protocol", protocol: "device_authorization_grant", device_authorization_grant: { verification_uri: "https://a" }, device_id: "" }],
    ["protocol device_id too long", { type: "m.login.protocol", protocol: "device_authorization_grant", device_authorization_grant: { verification_uri: "https://a" }, device_id: "A".repeat(MAX_DEVICE_ID_LENGTH + 1) }],
    ["DAG without grant object", { type: "m.login.protocol", protocol: "device_authorization_grant", device_id: "ABCDEFGHIJ" }],
    ["DAG without verification_uri", { type: "m.login.protocol", protocol: "device_authorization_grant", device_authorization_grant: { verification_uri_complete: "https://a" }, device_id: "X" }],
    ["DAG uri not a string", { type: "m.login.protocol", protocol: "device_authorization_grant", device_authorization_grant: { verification_uri: 5 }, device_id: "X" }],
    ["failure without reason", { type: "m.login.failure" }],
    ["failure unknown reason", { type: "m.login.failure", reason: "user_declined" }],
    ["failure homeserver not a string", { type: "m.login.failure", reason: "user_cancelled", homeserver: 1 }],
    ["secrets without cross_signing", { type: "m.login.secrets" }],
    ["secrets short key", { type: "m.login.secrets", cross_signing: { master_key: "AAAA", self_signing_key: key32(), user_signing_key: key32() } }],
    ["secrets url-safe key", { type: "m.login.secrets", cross_signing: { master_key: "_".repeat(43), self_signing_key: key32(), user_signing_key: key32() } }],
    ["secrets missing usk", { type: "m.login.secrets", cross_signing: { master_key: key32(), self_signing_key: key32() } }],
    ["secrets backup without version", { type: "m.login.secrets", cross_signing: { master_key: key32(), self_signing_key: key32(), user_signing_key: key32() }, backup: { algorithm: "m.megolm_backup.v1.curve25519-aes-sha2", key: key32() } }],
    ["secrets non-canonical base64", { type: "m.login.secrets", cross_signing: { master_key: "A".repeat(42) + "B", self_signing_key: key32(), user_signing_key: key32() } }],
  ])("malformed: %s → unexpected_message_received", (_name, value) => {
    expectUnexpected(value);
  });
});

describe("size against the 4096-byte rendezvous limit", () => {
  test("sealedSize is base64(utf8(JSON) + 16-byte tag)", () => {
    const m: LoginMessage = { type: "m.login.success" };
    const plain = JSON.stringify(serialiseLoginMessage(m));
    expect(sealedSize(m)).toBe(Buffer.from(new Uint8Array(Buffer.byteLength(plain) + AEAD_TAG_BYTES)).toString("base64").replace(/=+$/, "").length);
    for (let n = 0; n < 10; n++) expect(unpaddedBase64Length(n)).toBe(Buffer.alloc(n).toString("base64").replace(/=+$/, "").length);
  });

  test("a realistic m.login.secrets bundle fits with room to spare", () => {
    const m = secretsMessage({
      cross_signing: { master_key: key32(), self_signing_key: key32(), user_signing_key: key32() },
      backup: { algorithm: "m.megolm_backup.v1.curve25519-aes-sha2", key: key32(), backup_version: "1234" },
    });
    const size = sealedSize(m);
    expect(size).toBeGreaterThan(400);
    expect(size).toBeLessThan(RENDEZVOUS_MAX_DATA_BYTES / 4);
  });

  test("the largest message each type accepts still fits", () => {
    const url = "https://" + "a".repeat(MAX_URL_LENGTH - 8);
    const short = "v".repeat(MAX_SHORT_STRING_LENGTH);
    const worst: LoginMessage[] = [
      { type: "m.login.protocols", protocols: Array.from({ length: MAX_PROTOCOLS }, () => short), base_url: url },
      { type: "m.login.protocol", protocol: "device_authorization_grant", device_authorization_grant: { verification_uri: url, verification_uri_complete: url }, device_id: "D".repeat(MAX_DEVICE_ID_LENGTH) },
      { type: "m.login.failure", reason: "unable_to_open_verification_uri", homeserver: url },
      secretsMessage({ cross_signing: { master_key: key32(), self_signing_key: key32(), user_signing_key: key32() }, backup: { algorithm: short, key: key32(), backup_version: short } }),
    ];
    for (const m of worst) {
      expect(sealedSize(m)).toBeLessThanOrEqual(RENDEZVOUS_MAX_DATA_BYTES);
      expect(parseLoginMessage(serialiseLoginMessage(m))).toEqual(m);
    }
  });

  test("multi-byte characters are counted in bytes: an over-limit message is rejected", () => {
    const url = "https://hs/" + "€".repeat(1000); // 1011 chars, ~3011 bytes, twice
    expectUnexpected({ type: "m.login.protocol", protocol: "device_authorization_grant", device_authorization_grant: { verification_uri: url, verification_uri_complete: url }, device_id: "X" });
  });
});
