// The MSC4108 2024 QR codec against the code Element ships: crypto-wasm's QrCodeData (matrix-rust-sdk).
// Every QR ours writes parses in QrCodeData.fromBytes with the same key, URL and server name, and every
// QR `new QrCodeData(...)` writes decodes in ours to the same fields and re-encodes to the same bytes.
import { beforeAll, describe, expect, test } from "@jest/globals";
import { randomBytes } from "node:crypto";
import * as wasm from "@matrix-org/matrix-sdk-crypto-wasm";
import { b64decode, b64encode, hexEncode } from "../../main/protocol/bytes.js";
import { decodeAnyQr, decodeQr2024, encodeQr2024, isServerName, qr2024ToJson } from "../../main/protocol-2024/qr.js";
import { encodeQr } from "../../main/protocol/qr.js";
import { protocolErrorCode as code } from "../support/protocol-error-code.js";

beforeAll(async () => {
  await wasm.initAsync();
});

const URLS = [
  "https://matrix-client.matrix.org/_synapse/client/rendezvous/01HX9K00Q1H6KPD47EG4G1T3XG",
  "http://127.0.0.1:8008/_matrix/client/unstable/org.matrix.msc4108/rendezvous/abc",
  "https://rendezvous.example.org/x?session=1",
  "https://no-path.example",
  `https://h.example/${"é".repeat(300)}`,
];
const SERVER_NAMES = ["matrix.org", "localhost", "localhost:8448", "127.0.0.1:8008", "[::1]:8448", "a-b.c-d.example"];

function freshKey(): { wasmKey: () => wasm.Curve25519PublicKey; raw: Uint8Array } {
  const ecies = new wasm.Ecies();
  const b64 = ecies.public_key().toBase64();
  // The wasm constructor consumes the key object it is given: hand out a fresh one each time.
  return { wasmKey: () => new wasm.Curve25519PublicKey(b64), raw: b64decode(b64) };
}

describe("QrCodeData (crypto-wasm) writes, we read", () => {
  test.each(URLS)("login QR for %s", (url) => {
    const key = freshKey();
    const theirs = new wasm.QrCodeData(key.wasmKey(), url, undefined).toBytes();
    const ours = decodeQr2024(theirs, { strict: true });
    // The Rust side writes the URL as its parser serialises it (WHATWG): percent-encoded, root "/".
    expect(ours).toEqual({ prefix: "MATRIX", type: 2, intent: "login", publicKey: key.raw, rendezvousUrl: new URL(url).href });
    expect(hexEncode(encodeQr2024(ours))).toBe(hexEncode(theirs));
  });

  test.each(SERVER_NAMES)("reciprocate QR naming %s", (serverName) => {
    const key = freshKey();
    const theirs = new wasm.QrCodeData(key.wasmKey(), URLS[0]!, serverName).toBytes();
    const ours = decodeQr2024(theirs, { strict: true });
    expect(ours).toEqual({ prefix: "MATRIX", type: 2, intent: "reciprocate", publicKey: key.raw, rendezvousUrl: URLS[0], serverName });
    expect(hexEncode(encodeQr2024(ours))).toBe(hexEncode(theirs));
  });
});

describe("we write, QrCodeData (crypto-wasm) reads", () => {
  test.each(URLS.flatMap((url) => [[url, undefined], [url, "example.org:8448"]] as const))("%s / server name %s", (url, serverName) => {
    const key = freshKey();
    const bytes = encodeQr2024({ intent: serverName ? "reciprocate" : "login", publicKey: key.raw, rendezvousUrl: url, ...(serverName ? { serverName } : {}) });
    const theirs = wasm.QrCodeData.fromBytes(bytes);
    expect(theirs.mode).toBe(serverName ? wasm.QrCodeIntent.Reciprocate : wasm.QrCodeIntent.Login);
    expect(theirs.publicKey.toBase64()).toBe(b64encode(key.raw));
    expect(theirs.rendezvousUrl).toBe(new URL(url).href);
    expect(decodeQr2024(bytes).rendezvousUrl).toBe(theirs.rendezvousUrl);
    expect(theirs.serverName).toBe(serverName);
    // And the MSC4108-specific intent data says the same (it is not an MSC4388 code to crypto-wasm).
    expect(theirs.intentData.msc4108?.rendezvousUrl).toBe(new URL(url).href);
  });

  test("random keys and URLs of every length class round-trip (200 cases)", () => {
    for (let i = 0; i < 200; i++) {
      const raw = new Uint8Array(randomBytes(32));
      const url = `https://h${i}.example/${"x".repeat(i * 37)}`;
      const serverName = i % 2 ? `s${i}.example:${1 + i}` : undefined;
      const bytes = encodeQr2024({ intent: serverName ? "reciprocate" : "login", publicKey: raw, rendezvousUrl: url, ...(serverName ? { serverName } : {}) });
      const theirs = wasm.QrCodeData.fromBytes(bytes);
      expect([theirs.publicKey.toBase64(), theirs.rendezvousUrl, theirs.serverName]).toEqual([b64encode(raw), url, serverName]);
      expect(hexEncode(new wasm.QrCodeData(new wasm.Curve25519PublicKey(b64encode(raw)), url, serverName).toBytes())).toBe(hexEncode(bytes));
    }
  });
});

describe("decoding is strict where it must be", () => {
  const key = new Uint8Array(32).fill(7);
  const login = encodeQr2024({ intent: "login", publicKey: key, rendezvousUrl: "https://r.example/s/1" });
  const recip = encodeQr2024({ intent: "reciprocate", publicKey: key, rendezvousUrl: "https://r.example/s/1", serverName: "example.org" });

  test("malformed payloads name what is wrong", () => {
    expect(code(() => decodeQr2024(login.subarray(0, 3)))).toBe("qr_too_short");
    expect(code(() => decodeQr2024(login.subarray(0, 7)))).toBe("qr_too_short");
    expect(code(() => decodeQr2024(login.subarray(0, 20)))).toBe("qr_too_short");
    expect(code(() => decodeQr2024(login.subarray(0, login.length - 1)))).toBe("qr_truncated");
    const badMode = login.slice();
    badMode[7] = 0x05;
    expect(code(() => decodeQr2024(badMode))).toBe("qr_invalid_intent");
    expect(code(() => decodeQr2024(recip.subarray(0, login.length)))).toBe("qr_invalid_server_name");
    const ftp = encodeQr2024({ intent: "login", publicKey: key, rendezvousUrl: "https://r.example/" });
    ftp.set(Buffer.from("ftp://r.exa"), 42);
    expect(code(() => decodeQr2024(ftp))).toBe("qr_invalid_url");
    expect(code(() => encodeQr2024({ intent: "login", publicKey: key, rendezvousUrl: "https://u:p@r.example/" }))).toBe("qr_invalid_url");
    expect(code(() => encodeQr2024({ intent: "login", publicKey: key, rendezvousUrl: "https://r.example/#x" }))).toBe("qr_invalid_url");
    expect(code(() => encodeQr2024({ intent: "reciprocate", publicKey: key, rendezvousUrl: "https://r.example/" }))).toBe("qr_invalid_server_name");
    expect(code(() => encodeQr2024({ intent: "reciprocate", publicKey: key, rendezvousUrl: "https://r.example/", serverName: "https://example.org" }))).toBe("qr_invalid_server_name");
    expect(code(() => encodeQr2024({ intent: "login", publicKey: key, rendezvousUrl: "https://r.example/", serverName: "example.org" }))).toBe("qr_invalid_server_name");
    expect(code(() => encodeQr2024({ intent: "login", publicKey: key.subarray(1), rendezvousUrl: "https://r.example/" }))).toBe("qr_invalid_key");
    const notUtf8 = recip.slice();
    notUtf8[notUtf8.length - 1] = 0xff;
    expect(code(() => decodeQr2024(notUtf8))).toBe("qr_not_utf8");
  });

  test("trailing bytes: ignored as the Rust parser does, rejected with strict", () => {
    const trailing = new Uint8Array([...login, 1, 2, 3]);
    expect(decodeQr2024(trailing).rendezvousUrl).toBe("https://r.example/s/1");
    expect(wasm.QrCodeData.fromBytes(trailing).rendezvousUrl).toBe("https://r.example/s/1");
    expect(code(() => decodeQr2024(trailing, { strict: true }))).toBe("qr_trailing");
  });

  test("server names", () => {
    for (const ok of SERVER_NAMES) expect(isServerName(ok)).toBe(true);
    for (const bad of ["", "https://matrix.org", "matrix.org/", "a b", "-x.org", "x.org:0", "x.org:70000", "300.1.1.1", "ex_ample.org", "@alice:matrix.org"]) expect(isServerName(bad)).toBe(false);
  });

  test("qr2024ToJson has the CLI contract's keys in order", () => {
    expect(Object.keys(qr2024ToJson(decodeQr2024(recip)))).toEqual(["prefix", "type", "intent", "publicKey", "rendezvousUrl", "serverName"]);
    expect(qr2024ToJson(decodeQr2024(login))).toEqual({ prefix: "MATRIX", type: 2, intent: "login", publicKey: b64encode(key), rendezvousUrl: "https://r.example/s/1" });
  });
});

describe("decodeAnyQr tells the versions apart by their bytes", () => {
  const key = new Uint8Array(32).fill(9);
  test("MATRIX 0x02 is 2024, type 0x03 with either prefix is 2025", () => {
    expect(decodeAnyQr(encodeQr2024({ intent: "login", publicKey: key, rendezvousUrl: "https://r.example/s" })).version).toBe("2024");
    for (const profile of ["msc4388", "element-2026"] as const) {
      const q = decodeAnyQr(encodeQr({ intent: "reciprocate", publicKey: key, rendezvousId: "abc", baseUrl: "https://hs.example/" }, profile));
      expect(q.version).toBe("2025");
    }
  });

  test("another type byte names both versions' types", () => {
    const bytes = new Uint8Array([...Buffer.from("MATRIX"), 0x01, 0x00, ...key]);
    expect(code(() => decodeAnyQr(bytes))).toBe("qr_invalid_type");
    expect(() => decodeAnyQr(bytes)).toThrow(/0x02 \(MSC4108 2024\) or 0x03 \(MSC4388\)/);
  });
});
