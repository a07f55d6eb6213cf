import { b64decode, b64encode, hexEncode, utf8Encode } from "../../main/protocol/bytes.js";
import { ProtocolError } from "../../main/protocol/errors.js";
import { decodeQr, encodeQr, qrBaseUrlString, qrDataToJson, type QrData } from "../../main/protocol/qr.js";
import { decodeQrPng, decodeQrPngFile, encodeQrPng } from "../../main/cli/qr-image.js";
import { fixturePath, hex, vector, vectors } from "../support/fixtures.js";
import { protocolErrorCode as code } from "../support/protocol-error-code.js";

const INTENTS = ["login", "reciprocate"] as const;

function expectFields(qr: QrData, e: { public_key_b64: string; rendezvous_id: string; base_url_bytes_in_qr: string; prefix: string; type: number; intent: number }): void {
  expect(b64encode(qr.publicKey)).toBe(e.public_key_b64);
  expect(qr.rendezvousId).toBe(e.rendezvous_id);
  expect(qr.baseUrl).toBe(e.base_url_bytes_in_qr);
  expect(qr.prefix).toBe(e.prefix);
  expect(qr.type).toBe(e.type);
  expect(qr.intent).toBe(INTENTS[e.intent]);
}

describe("QR vectors (MSC examples, rust-sdk PR #6173 and main, crypto-wasm 18.9.0)", () => {
  const byteVectors = vectors("qr_code_bytes");
  test("there are MSC, PR and legacy vectors", () => {
    expect(byteVectors.length).toBeGreaterThanOrEqual(7);
  });

  test.each(byteVectors.map((v) => [v.id, v] as const))("%s decodes to the expected fields and re-encodes", (_id, v) => {
    const bytes = hex(v.data.bytes_hex);
    const qr = decodeQr(bytes);
    expectFields(qr, v.data.expected);
    const legacy = (v.format ?? "").startsWith("LEGACY");
    expect(qr.idLengthBytes).toBe(legacy ? 2 : 1);
    if (v.data.expected.parsed_base_url_as_url_string) expect(new URL(qr.baseUrl).href).toBe(v.data.expected.parsed_base_url_as_url_string);
    // Re-encoding with the matching prefix and length form reproduces the bytes exactly.
    const profile = qr.prefix === "MATRIX" ? "msc4388" : "element-2026";
    expect(hexEncode(encodeQr(qr, profile, { idLengthBytes: legacy ? 2 : 1 }))).toBe(v.data.bytes_hex);
    // Each profile's own form: element-2026 writes what rust-sdk main writes, msc4388 what the MSC shows.
    if (legacy || profile === "msc4388") expect(hexEncode(encodeQr(qr, profile))).toBe(v.data.bytes_hex);
  });

  test.each(vectors("qr_code_base64").map((v) => [v.id, v] as const))("%s (base64 form) decodes and re-encodes", (_id, v) => {
    const bytes = b64decode(v.data.base64_unpadded);
    expect(hexEncode(bytes)).toBe(v.data.bytes_hex);
    const qr = decodeQr(bytes);
    expectFields(qr, v.data.expected);
    expect(new URL(qr.baseUrl).href).toBe(v.data.expected.parsed_base_url_as_url_string);
    expect(b64encode(encodeQr(qr, "element-2026", { idLengthBytes: qr.idLengthBytes }))).toBe(v.data.base64_unpadded);
  });

  test("crypto-wasm 18.9.0 newMsc4388 outputs are what element-2026 writes (2-byte id length; strip '/' only for a root path)", () => {
    const v = vector("npm-matrix-sdk-crypto-wasm-18.9.0-newMsc4388");
    const key = b64decode("2IZoarIZe3gOMAqdSiFHSAcA15KfOasxueUUNwJI7Ws");
    for (const out of v.data.outputs) {
      const ours = encodeQr({ intent: "reciprocate", publicKey: key, rendezvousId: "e8da6355-550b-4a32-a193-1619d9830668", baseUrl: out.base_url_arg }, "element-2026");
      expect(hexEncode(ours)).toBe(out.bytes_hex);
      expect(decodeQr(ours).idLengthBytes).toBe(2);
    }
  });

  test("derived handshake vector's QR, both id length forms", () => {
    const d = vector("derived-noble-full-handshake").data;
    const input = { intent: "reciprocate" as const, publicKey: hex(d.inputs.Gp), rendezvousId: d.inputs.rendezvous_id, baseUrl: d.inputs.qr_base_url };
    expect(hexEncode(encodeQr(input))).toBe(d.qr.unstable_rendezvous_id_len_u16_legacy_hex);
    expect(hexEncode(encodeQr(input, "element-2026", { idLengthBytes: 1 }))).toBe(d.qr.unstable_rendezvous_id_len_u8_hex);
  });
});

describe("QR encoding", () => {
  const key = new Uint8Array(32).fill(7);
  test("prefix and id-length form per profile (element-2026: 2 bytes, msc4388: 1 byte), round trip", () => {
    for (const profile of ["element-2026", "msc4388"] as const) {
      for (const intent of INTENTS) {
        const bytes = encodeQr({ intent, publicKey: key, rendezvousId: "abc_DEF-1.2~3", baseUrl: "https://example.org/matrix/" }, profile);
        const qr = decodeQr(bytes);
        const idLengthBytes = profile === "msc4388" ? 1 : 2;
        expect(qr).toEqual({ prefix: profile === "msc4388" ? "MATRIX" : "IO_ELEMENT_MSC4388", type: 3, intent, publicKey: key, rendezvousId: "abc_DEF-1.2~3", baseUrl: "https://example.org/matrix/", idLengthBytes, trailingBytes: 0 });
        // The length field: one byte 0x0d, or the two bytes 0x00 0x0d.
        const at = (profile === "msc4388" ? 6 : 18) + 2 + 32;
        expect([...bytes.subarray(at, at + idLengthBytes)]).toEqual(idLengthBytes === 1 ? [13] : [0, 13]);
      }
    }
  });

  test("--id-length override: either form with either profile, and ids of 1 and 255 bytes", () => {
    for (const profile of ["element-2026", "msc4388"] as const) {
      for (const idLengthBytes of [1, 2] as const) {
        for (const rendezvousId of ["x", "a".repeat(255)]) {
          const qr = decodeQr(encodeQr({ intent: "login", publicKey: key, rendezvousId, baseUrl: "https://h.example" }, profile, { idLengthBytes }));
          expect([qr.idLengthBytes, qr.rendezvousId, qr.baseUrl]).toEqual([idLengthBytes, rendezvousId, "https://h.example"]);
        }
      }
    }
  });

  test("URL written without trailing '/' only when the path is '/'", () => {
    expect(qrBaseUrlString("https://h.example/")).toBe("https://h.example");
    expect(qrBaseUrlString("https://h.example")).toBe("https://h.example");
    expect(qrBaseUrlString("HTTPS://H.example:443/")).toBe("https://h.example");
    expect(qrBaseUrlString("http://127.0.0.1:8008")).toBe("http://127.0.0.1:8008");
    expect(qrBaseUrlString("https://h.example/matrix/")).toBe("https://h.example/matrix/");
    expect(qrBaseUrlString("https://h.example/matrix")).toBe("https://h.example/matrix");
  });

  test("encoder rejects bad input with typed errors", () => {
    const ok = { intent: "login" as const, publicKey: key, rendezvousId: "abc", baseUrl: "https://h" };
    expect(code(() => encodeQr({ ...ok, publicKey: new Uint8Array(31) }))).toBe("qr_invalid_key");
    expect(code(() => encodeQr({ ...ok, rendezvousId: "" }))).toBe("qr_invalid_rendezvous_id");
    expect(code(() => encodeQr({ ...ok, rendezvousId: "a".repeat(256) }))).toBe("qr_invalid_rendezvous_id");
    expect(code(() => encodeQr({ ...ok, rendezvousId: "../admin" }))).toBe("qr_invalid_rendezvous_id");
    expect(code(() => encodeQr({ ...ok, baseUrl: "ftp://h" }))).toBe("qr_invalid_url");
    expect(code(() => encodeQr({ ...ok, baseUrl: "https://h/" + "a".repeat(70000) }))).toBe("base_url_too_long");
    expect(code(() => encodeQr({ ...ok, intent: "other" as never }))).toBe("qr_invalid_intent");
    expect(code(() => encodeQr(ok, "nope" as never))).toBe("unknown_profile");
    expect(encodeQr({ ...ok, rendezvousId: "a".repeat(255) }).length).toBeGreaterThan(255);
  });
});

describe("QR decoding rejects malformed payloads with the right code", () => {
  const good = hex(vector("msc4388-qr-intent00-stable").data.bytes_hex); // MATRIX 03 00 key 24 id 0020 url
  const idAt = 6 + 2 + 32; // offset of the id length byte
  const urlLenAt = idAt + 1 + 36;
  const withByte = (at: number, value: number): Uint8Array => {
    const b = good.slice();
    b[at] = value;
    return b;
  };
  const build = (id: Uint8Array, url: Uint8Array): Uint8Array =>
    Uint8Array.from([...good.subarray(0, idAt), id.length, ...id, url.length >> 8, url.length & 255, ...url]);

  test("prefix, type, intent", () => {
    expect(code(() => decodeQr(new Uint8Array(0)))).toBe("qr_too_short");
    expect(code(() => decodeQr(utf8Encode("MATR")))).toBe("qr_too_short");
    expect(code(() => decodeQr(utf8Encode("IO_ELEMENT_MSC")))).toBe("qr_too_short");
    expect(code(() => decodeQr(utf8Encode("MATRIX")))).toBe("qr_too_short");
    expect(code(() => decodeQr(utf8Encode("matrix\x03\x00")))).toBe("qr_invalid_prefix");
    expect(code(() => decodeQr(utf8Encode("XMATRIX")))).toBe("qr_invalid_prefix");
    expect(code(() => decodeQr(withByte(6, 0x02)))).toBe("qr_invalid_type");
    expect(code(() => decodeQr(withByte(7, 0x02)))).toBe("qr_invalid_intent");
    expect(code(() => decodeQr(good.subarray(0, idAt - 1)))).toBe("qr_too_short"); // key cut
    expect(code(() => decodeQr(good.subarray(0, idAt)))).toBe("qr_too_short"); // no id length
  });

  test("truncation anywhere after the header", () => {
    for (let n = idAt + 1; n < good.length; n++) expect(code(() => decodeQr(good.subarray(0, n)))).toBe("qr_truncated");
  });

  test("trailing bytes are ignored and counted, as Rust ignores them; { strict: true } refuses them", () => {
    const legacy = hex(vector("rust-main-qr-code-data-login").data.bytes_hex);
    for (const payload of [good, legacy]) {
      const plain = decodeQr(payload);
      for (const extra of [[0], [0xff, 0x00, 0x41], Array.from({ length: 300 }, (_, i) => i & 255)]) {
        const withExtra = Uint8Array.from([...payload, ...extra]);
        expect(decodeQr(withExtra)).toEqual({ ...plain, trailingBytes: extra.length });
        expect(code(() => decodeQr(withExtra, { strict: true }))).toBe("qr_trailing");
      }
      expect(decodeQr(payload, { strict: true })).toEqual({ ...plain, trailingBytes: 0 });
    }
  });

  test("rendezvous id: UTF-8, grammar, legacy empty", () => {
    const url = utf8Encode("https://h");
    expect(code(() => decodeQr(build(new Uint8Array([0xc3, 0x28]), url)))).toBe("qr_not_utf8");
    expect(code(() => decodeQr(build(utf8Encode("../x"), url)))).toBe("qr_invalid_rendezvous_id");
    expect(code(() => decodeQr(build(utf8Encode("a/b"), url)))).toBe("qr_invalid_rendezvous_id");
    expect(code(() => decodeQr(build(utf8Encode("é"), url)))).toBe("qr_invalid_rendezvous_id");
    // legacy form with length 0x0000
    const legacyEmpty = Uint8Array.from([...good.subarray(0, idAt), 0, 0, 0, 9, ...url]);
    expect(code(() => decodeQr(legacyEmpty))).toBe("qr_invalid_rendezvous_id");
    expect(decodeQr(build(utf8Encode("ok"), url)).rendezvousId).toBe("ok");
  });

  test("base URL: UTF-8, parse, scheme, credentials, query, fragment, whitespace", () => {
    const id = utf8Encode("abc");
    expect(code(() => decodeQr(build(id, new Uint8Array([0x68, 0xff]))))).toBe("qr_not_utf8");
    for (const bad of ["", "matrix.org", "ftp://h", "javascript:alert(1)", "https://u:p@h", "https://u@h", "https://h/?a=1", "https://h/#x", " https://h", "https://h/ x", "https://h\n", "https:\\\\h", "https://[::1"]) {
      expect([bad, code(() => decodeQr(build(id, utf8Encode(bad))))]).toEqual([bad, "qr_invalid_url"]);
    }
    expect(decodeQr(build(id, utf8Encode("http://127.0.0.1:8008"))).baseUrl).toBe("http://127.0.0.1:8008");
    expect(decodeQr(build(id, utf8Encode("https://hö.example/m/"))).baseUrl).toBe("https://hö.example/m/");
  });

  test("URL length field bigger than what is left", () => {
    const b = good.slice();
    b[urlLenAt] = 0xff;
    expect(code(() => decodeQr(b))).toBe("qr_truncated");
  });

  test("qrDataToJson gives the CLI contract shape", () => {
    expect(qrDataToJson(decodeQr(good))).toEqual({
      prefix: "MATRIX", type: 3, intent: "login", publicKey: "2IZoarIZe3gOMAqdSiFHSAcA15KfOasxueUUNwJI7Ws",
      rendezvousId: "e8da6355-550b-4a32-a193-1619d9830668", baseUrl: "https://matrix-client.matrix.org", idLengthBytes: 1,
    });
  });
});

describe("QR decoder fuzz", () => {
  // xorshift32: deterministic, so a failure is reproducible from the seed.
  function rng(seed: number): () => number {
    let s = seed >>> 0 || 1;
    return () => {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      return s;
    };
  }
  const seeds = [...vectors("qr_code_bytes").map((v) => hex(v.data.bytes_hex))];

  test("100,000+ random and mutated inputs: only ProtocolError or a fully valid result", () => {
    const r = rng(0x4388);
    let ok = 0;
    let failed = 0;
    const started = Date.now();
    const check = (input: Uint8Array): void => {
      let qr: QrData;
      try {
        qr = decodeQr(input);
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw new Error(`non-ProtocolError for ${hexEncode(input)}: ${String(e)}`);
        failed++;
        return;
      }
      // A success must be a complete, self-consistent result that re-encodes to the input.
      ok++;
      expect(qr.publicKey.length).toBe(32);
      const again = encodeQr(qr, qr.prefix === "MATRIX" ? "msc4388" : "element-2026", { idLengthBytes: qr.idLengthBytes });
      const urlCanonical = qrBaseUrlString(qr.baseUrl) === qr.baseUrl;
      // Ignored trailing bytes are the only part of the input that re-encoding does not reproduce.
      if (urlCanonical) expect(hexEncode(again)).toBe(hexEncode(input.subarray(0, input.length - qr.trailingBytes)));
    };
    for (let i = 0; i < 40_000; i++) {
      // pure random, random length, sometimes with a valid prefix
      const len = r() % 160;
      const b = new Uint8Array(len);
      for (let k = 0; k < len; k++) b[k] = r() & 255;
      const kind = r() % 3;
      if (kind === 1 && len >= 6) b.set(utf8Encode("MATRIX"));
      if (kind === 2 && len >= 20) b.set([...utf8Encode("IO_ELEMENT_MSC4388"), 3, r() & 1]);
      check(b);
    }
    for (let i = 0; i < 70_000; i++) {
      const base = seeds[r() % seeds.length]!;
      let b = base.slice();
      const ops = 1 + (r() % 4);
      for (let o = 0; o < ops; o++) {
        const op = r() % 5;
        const at = b.length ? r() % b.length : 0;
        if (op === 0 && b.length) b[at] = r() & 255; // flip a byte
        else if (op === 1 && b.length) b[at] = b[at]! ^ (1 << (r() % 8)); // flip a bit
        else if (op === 2) b = b.subarray(0, at); // truncate
        else if (op === 3) b = Uint8Array.from([...b.subarray(0, at), r() & 255, ...b.subarray(at)]); // insert
        else b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + 1)]); // delete
      }
      check(b);
    }
    expect(ok + failed).toBe(110_000);
    expect(ok).toBeGreaterThan(0); // some mutations keep the payload valid (e.g. a key byte)
    expect(failed).toBeGreaterThan(100_000 * 0.5);
    // ~4 s on an idle machine; the generous bound only catches a pathological slowdown (a hang
    // would hit the test timeout) without failing on a loaded CI box.
    expect(Date.now() - started).toBeLessThan(60_000);
  }, 120_000);
});

describe("QR images", () => {
  test.each([
    ["4388-qr-intent00.png", "msc4388-qr-intent00-stable"],
    ["4388-qr-intent01.png", "msc4388-qr-intent01-stable"],
    ["4388-qr-intent01-unstable.png", "msc4388-qr-intent01-unstable"],
  ])("the MSC's %s decodes to the MSC example fields", async (file, id) => {
    const bytes = await decodeQrPngFile(fixturePath("qr", file));
    const v = vector(id);
    expect(hexEncode(bytes)).toBe(v.data.bytes_hex);
    expectFields(decodeQr(bytes), v.data.expected);
  });

  test("encodeQrPng (byte mode, EC Q) round-trips a payload with bytes >= 0x80", async () => {
    const payload = encodeQr({ intent: "login", publicKey: Uint8Array.from({ length: 32 }, (_, i) => 0x80 + i), rendezvousId: "Zx_9", baseUrl: "https://example.org" });
    expect(decodeQrPng(await encodeQrPng(payload))).toEqual(payload);
  });
});
