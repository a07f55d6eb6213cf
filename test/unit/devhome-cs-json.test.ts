// Canonical JSON and signature checks against the Matrix spec's appendix examples.
import { describe, expect, test } from "@jest/globals";
import { ed25519 } from "@noble/curves/ed25519.js";
import { canonicalJson, decodeBase64, verifySignature } from "../../server/devhome/cs/json.js";
import type { JsonObject } from "../../server/devhome/cs/json.js";

const b64 = (u: Uint8Array): string => Buffer.from(u).toString("base64").replace(/=+$/, "");

describe("canonicalJson", () => {
  test("spec examples", () => {
    expect(canonicalJson({})).toBe("{}");
    expect(canonicalJson({ one: 1, two: "Two" })).toBe('{"one":1,"two":"Two"}');
    expect(canonicalJson({ b: "2", a: "1" })).toBe('{"a":"1","b":"2"}');
    expect(canonicalJson({ auth: { success: true, mxid: "@john.doe:example.com", profile: { display_name: "John Doe", three_pids: [{ medium: "email", address: "john.doe@example.org" }, { medium: "msisdn", address: "123456789" }] } } })).toBe(
      '{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}',
    );
    expect(canonicalJson({ a: "日本語" })).toBe('{"a":"日本語"}');
    expect(canonicalJson({ 本: 2, 日: 1 })).toBe('{"日":1,"本":2}');
    expect(canonicalJson({ a: "\u1234" })).toBe('{"a":"ሴ"}');
    expect(canonicalJson({ a: null })).toBe('{"a":null}');
    expect(canonicalJson({ a: -0 })).toBe('{"a":0}');
  });

  test("keys sort by code point, not UTF-16 unit", () => {
    // U+1F600 (surrogates D83D DE00) sorts after U+FF61 by code point, before it by UTF-16 unit.
    expect(canonicalJson({ "\u{1F600}": 1, "\uFF61": 2 })).toBe('{"\uFF61":2,"\u{1F600}":1}');
  });

  test("floats and unsafe integers are refused", () => {
    expect(() => canonicalJson({ a: 1.5 })).toThrow(TypeError);
    expect(() => canonicalJson({ a: 2 ** 53 })).toThrow(TypeError);
  });
});

describe("verifySignature", () => {
  // The spec's signing example: seed "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1", key id ed25519:1.
  const seed = decodeBase64("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1")!;
  const pub = b64(ed25519.getPublicKey(seed));

  test("the spec's signed empty object verifies", () => {
    const signed: JsonObject = {
      signatures: { domain: { "ed25519:1": "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ" } },
    };
    expect(verifySignature(signed, "domain", "ed25519:1", pub)).toBe(true);
  });

  test("the spec's signed {one, two} verifies; unsigned is ignored; a change breaks it", () => {
    const signed: JsonObject = {
      one: 1,
      two: "Two",
      unsigned: { age_ts: 1 },
      signatures: { domain: { "ed25519:1": "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw" } },
    };
    expect(verifySignature(signed, "domain", "ed25519:1", pub)).toBe(true);
    expect(verifySignature({ ...signed, two: "Three" }, "domain", "ed25519:1", pub)).toBe(false);
    expect(verifySignature(signed, "other", "ed25519:1", pub)).toBe(false);
    expect(verifySignature(signed, "domain", "ed25519:2", pub)).toBe(false);
  });

  test("agrees with @noble/curves (strict RFC 8032) on good, altered and non-canonical (S + L) signatures", () => {
    const L = 2n ** 252n + 27742317777372353535851937790883648493n;
    for (let i = 0; i < 20; i++) {
      const sk = ed25519.utils.randomSecretKey();
      const obj: JsonObject = { i, keys: { k: b64(sk.subarray(0, 8)) } };
      const sig = ed25519.sign(new TextEncoder().encode(canonicalJson(obj)), sk);
      const signed = (s: Uint8Array): JsonObject => ({ ...obj, signatures: { u: { "ed25519:k": b64(s) } } });
      const key = b64(ed25519.getPublicKey(sk));
      expect(verifySignature(signed(sig), "u", "ed25519:k", key)).toBe(true);
      const flipped = sig.slice();
      flipped[i % 64]! ^= 1;
      expect(verifySignature(signed(flipped), "u", "ed25519:k", key)).toBe(false);
      // S + L is the same scalar mod L, but not canonical: RFC 8032 §5.1.7 rejects it.
      let S = 0n;
      for (let b = 31; b >= 0; b--) S = (S << 8n) | BigInt(sig[32 + b]!);
      const big = sig.slice();
      let t = S + L;
      for (let b = 0; b < 32; b++, t >>= 8n) big[32 + b] = Number(t & 255n);
      expect(t).toBe(0n); // S + L still fits in 32 bytes (S < L < 2^253)
      expect(verifySignature(signed(big), "u", "ed25519:k", key)).toBe(false);
      expect(ed25519.verify(big, new TextEncoder().encode(canonicalJson(obj)), ed25519.getPublicKey(sk), { zip215: false })).toBe(false);
    }
  });

  test("malformed signatures and keys are false, not exceptions", () => {
    const s = (sig: string): JsonObject => ({ signatures: { d: { "ed25519:1": sig } } });
    expect(verifySignature(s("!!!"), "d", "ed25519:1", pub)).toBe(false);
    expect(verifySignature(s("AAAA"), "d", "ed25519:1", pub)).toBe(false);
    expect(verifySignature(s("A".repeat(86)), "d", "ed25519:1", "A".repeat(43))).toBe(false);
    expect(verifySignature({ signatures: "x" }, "d", "ed25519:1", pub)).toBe(false);
  });
});
