import { b64decode, b64encode, concatBytes, equalBytes, hexDecode, hexEncode, u16Prefixed, u8Prefixed, utf8Decode, utf8Encode } from "../../main/protocol/bytes.js";
import { DEFAULT_PROFILE, getProfile, PROFILES, RENDEZVOUS_PATH_STABLE, RENDEZVOUS_PATH_UNSTABLE } from "../../main/protocol/profile.js";
import { hex, vector } from "../support/fixtures.js";
import { protocolErrorCode as code } from "../support/protocol-error-code.js";

describe("base64 (vodozemac: standard alphabet, unpadded encode, lenient padding decode)", () => {
  test("matches Node's standard base64 on random data of every length mod 3", () => {
    for (let n = 0; n < 200; n++) {
      const bytes = Uint8Array.from({ length: n }, () => Math.floor(Math.random() * 256));
      const ref = Buffer.from(bytes).toString("base64");
      expect(b64encode(bytes)).toBe(ref.replace(/=+$/, ""));
      expect(b64decode(ref)).toEqual(bytes); // padded
      expect(b64decode(ref.replace(/=+$/, ""))).toEqual(bytes); // unpadded
    }
  });

  test("vodozemac message encoding vectors decode and re-encode to the same text", () => {
    const d = vector("vodozemac-hpke-message-encodings").data;
    for (const name of ["INITIAL_MESSAGE", "INITIAL_RESPONSE", "MESSAGE", "PUBLIC_KEY"]) {
      expect(b64encode(b64decode(d[name]))).toBe(d[name]);
    }
    const initial = b64decode(d.INITIAL_MESSAGE);
    expect(hexEncode(initial)).toBe(d.expected.INITIAL_MESSAGE_bytes_hex);
    expect(b64encode(initial.subarray(0, 32))).toBe(d.PUBLIC_KEY);
    expect(b64decode(d.INITIAL_RESPONSE).subarray(0, 32)).toEqual(new Uint8Array(32));
  });

  test("rejects URL-safe alphabet, bad characters, whitespace, bad padding and non-canonical trailing bits", () => {
    for (const bad of ["ab-_", "ab_c", "a b=", "QQ=", "Q===", "QUJD====", "QUJD=", "=", "====", "A", "QUJDR", "QR", "QUK", "QQ==\n", "é==="]) {
      expect(code(() => b64decode(bad))).toBe("invalid_base64");
    }
    expect(b64decode("QQ")).toEqual(new Uint8Array([0x41]));
    expect(b64decode("QUI")).toEqual(new Uint8Array([0x41, 0x42]));
    expect(b64decode("")).toEqual(new Uint8Array(0));
  });
});

describe("UTF-8, hex and length prefixes", () => {
  test("strict UTF-8 decoding rejects malformed sequences and keeps a BOM", () => {
    expect(code(() => utf8Decode(new Uint8Array([0xc3])))).toBe("invalid_utf8");
    expect(code(() => utf8Decode(new Uint8Array([0xed, 0xa0, 0x80])))).toBe("invalid_utf8"); // encoded surrogate
    expect(code(() => utf8Decode(new Uint8Array([0xc0, 0xaf])))).toBe("invalid_utf8"); // overlong
    expect(code(() => utf8Decode(new Uint8Array([0xff]), "qr_not_utf8"))).toBe("qr_not_utf8");
    expect(utf8Decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x61]))).toBe("\ufeffa");
    expect(utf8Decode(utf8Encode("é€𝄞"))).toBe("é€𝄞");
  });

  test("utf8Encode refuses lone surrogates instead of replacing them", () => {
    expect(code(() => utf8Encode("a\ud800"))).toBe("invalid_utf8");
    expect(code(() => utf8Encode("\udc00b"))).toBe("invalid_utf8");
    expect(utf8Encode("\ud834\udd1e")).toEqual(new Uint8Array([0xf0, 0x9d, 0x84, 0x9e]));
  });

  test("MSC EncodeStringAsBytes16/8 examples", () => {
    const d = vector("msc4388-encode-string-as-bytes").data;
    expect(hexEncode(u16Prefixed(utf8Encode(d.EncodeStringAsBytes16.input)))).toBe(d.EncodeStringAsBytes16.output_hex);
    expect(hexEncode(u8Prefixed(utf8Encode(d.EncodeStringAsBytes8.input)))).toBe(d.EncodeStringAsBytes8.output_hex);
  });

  test("length prefixes reject oversize fields with the caller's code", () => {
    expect(u8Prefixed(new Uint8Array(255)).length).toBe(256);
    expect(code(() => u8Prefixed(new Uint8Array(256), "sequence_token_too_long"))).toBe("sequence_token_too_long");
    expect(u16Prefixed(new Uint8Array(65535)).subarray(0, 2)).toEqual(new Uint8Array([0xff, 0xff]));
    expect(code(() => u16Prefixed(new Uint8Array(65536)))).toBe("field_too_long");
    expect(() => u16Prefixed(new Uint8Array(65536), "field_too_long", "server name")).toThrow("server name is 65536 bytes; a u16 length prefix allows 65535");
    expect(() => u8Prefixed(new Uint8Array(256), "sequence_token_too_long", "sequence token")).toThrow("sequence token is 256 bytes; a u8 length prefix allows 255");
  });

  test("hex, concat, equalBytes", () => {
    expect(hexDecode("00fFa1")).toEqual(new Uint8Array([0, 255, 161]));
    expect(code(() => hexDecode("abc"))).toBe("invalid_message");
    expect(code(() => hexDecode("zz"))).toBe("invalid_message");
    expect(concatBytes(hex("01"), new Uint8Array(0), hex("0203"))).toEqual(hex("010203"));
    expect(equalBytes(hex("0102"), hex("0102"))).toBe(true);
    expect(equalBytes(hex("0102"), hex("0103"))).toBe(false);
    expect(equalBytes(hex("01"), hex("0102"))).toBe(false);
  });
});

describe("wire profiles", () => {
  test("element-2026 is the default and uses vodozemac's labels", () => {
    const p = getProfile();
    expect(DEFAULT_PROFILE).toBe("element-2026");
    expect(p.name).toBe("element-2026");
    expect(p.qrPrefix).toBe("IO_ELEMENT_MSC4388");
    expect(p.rendezvousPath).toBe(RENDEZVOUS_PATH_UNSTABLE);
    expect(RENDEZVOUS_PATH_UNSTABLE).toBe("/_matrix/client/unstable/io.element.msc4388/rendezvous");
    expect(p.concurrentWriteErrcode).toBe("IO_ELEMENT_MSC4388_CONCURRENT_WRITE");
    const labels = vector("vodozemac-hpke-labels").data;
    expect(p.responseExportLabel).toBe(labels.response_export_exporter_context);
    const cc = vector("derived-noble-full-handshake").data;
    expect(hexEncode(p.checkCodeExportContext(hex(cc.inputs.Gp), hex(cc.inputs.Sp)))).toBe(cc.check_code.vodozemac.exporter_context_hex);
  });

  test("msc4388 is the MSC text literally", () => {
    const p = getProfile("msc4388");
    expect(p.qrPrefix).toBe("MATRIX");
    expect(p.rendezvousPath).toBe(RENDEZVOUS_PATH_STABLE);
    expect(RENDEZVOUS_PATH_STABLE).toBe("/_matrix/client/v1/rendezvous");
    expect(p.concurrentWriteErrcode).toBe("M_CONCURRENT_WRITE");
    expect(p.responseExportLabel).toBe("MATRIX_QR_CODE_LOGIN response");
    const cc = vector("derived-noble-full-handshake").data;
    expect(hexEncode(p.checkCodeExportContext(hex(cc.inputs.Gp), hex(cc.inputs.Sp)))).toBe(cc.check_code.msc_text_literal.exporter_context_hex);
  });

  test("unknown profile names are typed errors", () => {
    expect(code(() => getProfile("element-2025"))).toBe("unknown_profile");
    expect(code(() => getProfile("toString"))).toBe("unknown_profile");
    expect(Object.keys(PROFILES).sort()).toEqual(["element-2026", "msc4388"]);
  });
});

describe("copyBytes", () => {
  test("copies even a Node Buffer (whose slice() is a view)", async () => {
    const { copyBytes } = await import("../../main/protocol/bytes.js");
    const buf = Buffer.from([1, 2, 3]);
    const c = copyBytes(buf);
    c[0] = 9;
    expect(buf[0]).toBe(1);
    expect(Object.getPrototypeOf(c)).toBe(Uint8Array.prototype);
  });
});
