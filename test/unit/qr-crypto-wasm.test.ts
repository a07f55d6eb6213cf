// Our QR codec against the one Element ships: @matrix-org/matrix-sdk-crypto-wasm (matrix-rust-sdk's
// QrCodeData compiled to WASM, installed through matrix-js-sdk) as the peer, in both directions.
//  - every QR our encoder writes under `element-2026` parses in QrCodeData.fromBytes with the same
//    intent, key, rendezvous id and base URL, and Rust writes it back byte for byte;
//  - every QR QrCodeData.newMsc4388 writes decodes in ours with the same fields;
//  - what Rust refuses, pinned: the 1-byte id length (why element-2026 writes two bytes) and the
//    stable `MATRIX` prefix with type 0x03 (why the msc4388 profile does not talk to Element today).
import { beforeAll, describe, expect, test } from "@jest/globals";
import { Curve25519PublicKey, QrCodeData, QrCodeIntent, initAsync } from "@matrix-org/matrix-sdk-crypto-wasm";
import { b64encode } from "../../main/protocol/bytes.js";
import { decodeQr, encodeQr, type QrIntent } from "../../main/protocol/qr.js";
import { seededRandom } from "../support/lossy-proxy.js";

beforeAll(async () => {
  await initAsync();
});

const INTENTS: ReadonlyArray<readonly [QrIntent, QrCodeIntent]> = [
  ["login", QrCodeIntent.Login],
  ["reciprocate", QrCodeIntent.Reciprocate],
];
const ID_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._~-";
const URLS = [
  "https://matrix-client.matrix.org", // root, as the QR carries it
  "https://matrix-client.matrix.org/", // root with the slash (both write "https://…org")
  "https://example.com/matrix/", // with a path, trailing slash kept
  "https://example.com/matrix", // with a path, no slash
  "http://127.0.0.1:8008", // a port, plain http (the development stack)
  "https://hs.example:8448/a/b/c/",
];

const rnd = seededRandom(4388);
function randomKey(): Uint8Array {
  return Uint8Array.from({ length: 32 }, () => Math.floor(rnd() * 256));
}
function randomId(length: number): string {
  return Array.from({ length }, () => ID_CHARS[Math.floor(rnd() * ID_CHARS.length)]).join("");
}

interface RustFields {
  intent: QrCodeIntent;
  publicKey: string;
  rendezvousId: string | undefined;
  baseUrl: string | undefined;
}

/** What Rust reads from the bytes (and frees its objects). */
function rustParse(bytes: Uint8Array): RustFields & { reencoded: Uint8Array } {
  const parsed = QrCodeData.fromBytes(bytes);
  try {
    const data = parsed.intentData.msc4388;
    const key = parsed.publicKey;
    const fields = { intent: parsed.mode, publicKey: key.toBase64(), rendezvousId: data?.rendezvousId, baseUrl: data?.baseUrl, reencoded: parsed.toBytes() };
    key.free();
    return fields;
  } finally {
    parsed.free();
  }
}

/** Error message of a Rust parse that must fail. */
function rustRefusal(bytes: Uint8Array): string {
  try {
    QrCodeData.fromBytes(bytes).free();
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  throw new Error("crypto-wasm accepted the QR");
}

describe("element-2026 QR codes → crypto-wasm QrCodeData.fromBytes", () => {
  const cases = INTENTS.flatMap(([intent, rustIntent]) =>
    [1, 36, 255].flatMap((idLength) => URLS.map((url) => [intent, rustIntent, idLength, url] as const)),
  );

  test.each(cases)("intent %s (QrCodeIntent %i), id of %i bytes, %s", (intent, rustIntent, idLength, url) => {
    const publicKey = randomKey();
    const rendezvousId = randomId(idLength);
    const ours = encodeQr({ intent, publicKey, rendezvousId, baseUrl: url }, "element-2026");
    const rust = rustParse(ours);
    // Rust keeps the URL as a parsed Url (a root URL gets its "/"): compare parsed forms.
    expect({ ...rust, reencoded: undefined }).toEqual({ intent: rustIntent, publicKey: b64encode(publicKey), rendezvousId, baseUrl: new URL(url).href, reencoded: undefined });
    // …and Rust's own encoder writes exactly our bytes back.
    expect(Buffer.from(rust.reencoded).toString("hex")).toBe(Buffer.from(ours).toString("hex"));
  });

  test("what Rust refuses: the 1-byte id length (the MSC text's form) and the MATRIX prefix with type 0x03", () => {
    const input = { intent: "login" as const, publicKey: randomKey(), rendezvousId: randomId(36), baseUrl: "https://h.example" };
    // This is why element-2026 writes the 2-byte length: the MSC's 1-byte form does not parse in Rust.
    expect(rustRefusal(encodeQr(input, "element-2026", { idLengthBytes: 1 }))).toMatch(/missing some fields/);
    // The msc4388 profile (MATRIX prefix) goes to Rust's 2024 parser, which wants type 0x02.
    expect(rustRefusal(encodeQr(input, "msc4388"))).toMatch(/expected 2, got 3/);
    expect(rustRefusal(encodeQr(input, "msc4388", { idLengthBytes: 2 }))).toMatch(/expected 2, got 3/);
  });
});

describe("crypto-wasm QrCodeData.newMsc4388 → our decoder", () => {
  const cases = INTENTS.flatMap(([intent, rustIntent]) =>
    [1, 36, 255].flatMap((idLength) => URLS.map((url) => [intent, rustIntent, idLength, url] as const)),
  );

  test.each(cases)("intent %s (QrCodeIntent %i), id of %i bytes, %s", (intent, rustIntent, idLength, url) => {
    const publicKey = randomKey();
    const rendezvousId = randomId(idLength);
    // newMsc4388 consumes the key object: a fresh one per call.
    const qr = QrCodeData.newMsc4388(new Curve25519PublicKey(b64encode(publicKey)), rendezvousId, url, rustIntent);
    const bytes = qr.toBytes();
    qr.free();
    const decoded = decodeQr(bytes, { strict: true });
    expect({ ...decoded, baseUrl: new URL(decoded.baseUrl).href }).toEqual({
      prefix: "IO_ELEMENT_MSC4388",
      type: 3,
      intent,
      publicKey,
      rendezvousId,
      baseUrl: new URL(url).href,
      idLengthBytes: 2,
      trailingBytes: 0,
    });
    // Byte for byte what element-2026 writes for the same fields.
    expect(Buffer.from(encodeQr(decoded, "element-2026")).toString("hex")).toBe(Buffer.from(bytes).toString("hex"));
    // Bytes after the URL (a later extension) change nothing, as in Rust.
    const extended = Uint8Array.from([...bytes, 0x01, 0x00, 0xff]);
    expect(decodeQr(extended)).toEqual({ ...decoded, trailingBytes: 3 });
    expect(rustParse(extended).rendezvousId).toBe(rendezvousId);
  });
});
