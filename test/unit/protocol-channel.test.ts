import { b64decode, b64encode, concatBytes, hexEncode, utf8Encode } from "../../main/protocol/bytes.js";
import {
  aadPrefix, buildAad, checkCodeDigits, EstablishedChannel, GeneratorChannel, LOGIN_INITIATE_LENGTH, LOGIN_OK_LENGTH, ScannerChannel,
  UnconfirmedChannel, type ChannelSession,
} from "../../main/protocol/channel.js";
import type { ProtocolError } from "../../main/protocol/errors.js";
import { generateKeyPair, setupBaseS } from "../../main/protocol/hpke.js";
import { getProfile, type ProfileName } from "../../main/protocol/profile.js";
import { hex, vector } from "../support/fixtures.js";
import { protocolErrorCode as code } from "../support/protocol-error-code.js";

const SESSION: ChannelSession = { baseUrl: "https://matrix-client.matrix.org", rendezvousId: "e8da6355-550b-4a32-a193-1619d9830668" };
const PROFILES: ProfileName[] = ["element-2026", "msc4388"];

/** Runs the handshake in memory with the sequence-token rule of docs/protocol.md (T1 = POST, T2 = after S's PUT, T3 = after G's PUT). */
function handshake(profile: ProfileName, session: ChannelSession = SESSION) {
  const g = GeneratorChannel.create({ profile, session });
  const s = ScannerChannel.create({ profile, session, peerPublicKey: g.publicKey });
  const { message: initiate, pending } = s.sealLoginInitiate("T1");
  const opened = g.openLoginInitiate(initiate, "T1");
  const { message: ok, channel } = opened.sealLoginOk("T2");
  const sEst = pending.openLoginOk(ok, "T2");
  const gEst = channel.confirm(sEst.checkCode);
  return { g, s, gEst, sEst, initiate, ok, pending, opened, channel };
}

describe("check code digits (vodozemac check_code.rs, NoLeadingZero)", () => {
  test("vectors", () => {
    for (const { bytes, digits } of vector("vodozemac-check-code-digits").data.NoLeadingZero) {
      expect(checkCodeDigits(Uint8Array.from(bytes))).toBe(digits);
    }
  });
  test("range is always 10..99", () => {
    for (let a = 0; a < 256; a++) for (let b = 0; b < 256; b += 17) {
      const d = checkCodeDigits(Uint8Array.from([a, b]));
      expect(d >= 10 && d <= 99).toBe(true);
    }
  });
});

describe("AAD", () => {
  test("derived vector AAD bytes (url-crate href with trailing '/', u16/u8/u8)", () => {
    for (const ex of vector("derived-noble-full-handshake").data.aad_examples) {
      expect(hexEncode(buildAad(SESSION, ex.sequence_token))).toBe(ex.aad_hex);
    }
  });
  test("MSC EncodeStringAsBytes layout and limits", () => {
    const aad = buildAad({ baseUrl: "https://h.example/m", rendezvousId: "abc" }, "tok");
    expect(hexEncode(aad)).toBe(hexEncode(concatBytes(hex("0013"), utf8Encode("https://h.example/m"), hex("03"), utf8Encode("abc"), hex("03"), utf8Encode("tok"))));
    expect(code(() => buildAad(SESSION, "x".repeat(256)))).toBe("sequence_token_too_long");
    expect(buildAad(SESSION, "x".repeat(255)).length).toBe(aadPrefix(SESSION).length + 256);
    expect(code(() => buildAad({ ...SESSION, rendezvousId: "i".repeat(256) }, "t"))).toBe("rendezvous_id_too_long");
    expect(code(() => buildAad({ ...SESSION, baseUrl: "ftp://x" }, "t"))).toBe("qr_invalid_url");
  });
});

describe("derived full handshake vector", () => {
  // NOTE: derived-noble-full-handshake is NOT an independent check. It was produced by a scratch
  // noble implementation written from the same reading of vodozemac/rust-sdk as this code; no
  // vodozemac binary confirmed it. It pins the wire bytes (and catches regressions); the independent
  // checks are RFC 9180 A.2.1 and the @hpke/core cross-check (protocol-hpke.test.ts).
  const d = vector("derived-noble-full-handshake").data;
  const steps = d.steps as { plaintext: string; aad_sequence_token: string; wire_base64: string }[];

  test("element-2026: every wire message and the check code (46)", () => {
    const g = GeneratorChannel.create({ profile: "element-2026", session: SESSION, keyPair: { secretKey: hex(d.inputs.Gs), publicKey: hex(d.inputs.Gp) }, responseNonce: hex(d.inputs.ResponseNonce) });
    const s = ScannerChannel.create({ profile: "element-2026", session: SESSION, peerPublicKey: hex(d.inputs.Gp), ephemeralSecretKey: hex(d.inputs.Ss_ephemeral_skE) });
    const [initiate, loginOk, s1, g1, s2] = steps as [typeof steps[0], typeof steps[0], typeof steps[0], typeof steps[0], typeof steps[0]];
    const a = s.sealLoginInitiate(initiate.aad_sequence_token);
    expect(a.message).toBe(initiate.wire_base64);
    expect(b64encode(a.pending.publicKey)).toBe(d.inputs.Sp_b64);
    const b = g.openLoginInitiate(a.message, initiate.aad_sequence_token).sealLoginOk(loginOk.aad_sequence_token);
    expect(b.message).toBe(loginOk.wire_base64);
    const sEst = a.pending.openLoginOk(b.message, loginOk.aad_sequence_token);
    expect(sEst.checkCode).toBe(String(d.check_code.vodozemac.digits));
    const gEst = b.channel.confirm(d.check_code.vodozemac.digits);
    expect(sEst.seal(s1.plaintext, s1.aad_sequence_token)).toBe(s1.wire_base64);
    expect(gEst.open(s1.wire_base64, s1.aad_sequence_token)).toBe(s1.plaintext);
    expect(gEst.seal(g1.plaintext, g1.aad_sequence_token)).toBe(g1.wire_base64);
    expect(sEst.open(g1.wire_base64, g1.aad_sequence_token)).toBe(g1.plaintext);
    expect(sEst.seal(s2.plaintext, s2.aad_sequence_token)).toBe(s2.wire_base64);
    expect(gEst.open(s2.wire_base64, s2.aad_sequence_token)).toBe(s2.plaintext);
  });

  test("msc4388 profile: same LoginInitiate, different response context and check code (57)", () => {
    const g = GeneratorChannel.create({ profile: "msc4388", session: SESSION, keyPair: { secretKey: hex(d.inputs.Gs), publicKey: hex(d.inputs.Gp) }, responseNonce: hex(d.inputs.ResponseNonce) });
    const s = ScannerChannel.create({ profile: "msc4388", session: SESSION, peerPublicKey: hex(d.inputs.Gp), ephemeralSecretKey: hex(d.inputs.Ss_ephemeral_skE) });
    const a = s.sealLoginInitiate("SEQ1");
    expect(a.message).toBe(steps[0]!.wire_base64);
    const b = g.openLoginInitiate(a.message, "SEQ1").sealLoginOk("SEQ2");
    expect(b.message).not.toBe(steps[1]!.wire_base64);
    expect(a.pending.openLoginOk(b.message, "SEQ2").checkCode).toBe(String(d.check_code.msc_text_literal.digits));
  });

  test("the JS PoC's plain-concatenation AAD does not open (documented incompatibility)", () => {
    const g = GeneratorChannel.create({ session: SESSION, keyPair: { secretKey: hex(d.inputs.Gs), publicKey: hex(d.inputs.Gp) } });
    expect(code(() => g.openLoginInitiate(d.js_poc_plain_concat_aad_variant.login_initiate_wire_base64, "SEQ1"))).toBe("decryption_failed");
  });
});

describe.each(PROFILES)("full handshake in memory (%s)", (profile) => {
  test("handshake, same check code on both sides, several messages each way", () => {
    const { gEst, sEst, initiate, ok } = handshake(profile);
    expect(b64decode(initiate).length).toBe(LOGIN_INITIATE_LENGTH);
    expect(b64decode(ok).length).toBe(LOGIN_OK_LENGTH);
    expect(sEst.checkCode).toMatch(/^[1-9][0-9]$/);
    expect(gEst.checkCode).toBe(sEst.checkCode);
    expect(gEst.role).toBe("generator");
    expect(sEst.role).toBe("scanner");
    let token = 3;
    for (let i = 0; i < 5; i++) {
      const t1 = `T${token++}`;
      const m1 = JSON.stringify({ type: "echo", body: `s→g ${i} é𝄞` });
      expect(gEst.open(sEst.seal(m1, t1), t1)).toBe(m1);
      const t2 = `T${token++}`;
      const m2 = JSON.stringify({ type: "echo", body: `g→s ${i}` });
      expect(sEst.open(gEst.seal(m2, t2), t2)).toBe(m2);
    }
    // empty plaintext is allowed (16-byte tag only)
    expect(gEst.open(sEst.seal("", "E"), "E")).toBe("");
  });

  test("profiles do not interoperate (response label and check-code context differ)", () => {
    const other = profile === "msc4388" ? "element-2026" : "msc4388";
    const g = GeneratorChannel.create({ profile, session: SESSION });
    const s = ScannerChannel.create({ profile: other, session: SESSION, peerPublicKey: g.publicKey });
    const a = s.sealLoginInitiate("T1");
    const b = g.openLoginInitiate(a.message, "T1").sealLoginOk("T2");
    expect(code(() => a.pending.openLoginOk(b.message, "T2"))).toBe("decryption_failed");
  });
});

describe("attacks end in a typed error and deliver nothing", () => {
  test("tampered ciphertext kills the channel", () => {
    const { gEst, sEst } = handshake("element-2026");
    const sealed = b64decode(sEst.seal("{\"type\":\"m.login.protocols\"}", "T3"));
    for (const at of [0, sealed.length - 1]) {
      const copy = handshake("element-2026");
      const msg = b64decode(copy.sEst.seal("hello", "T3"));
      msg[at === 0 ? 0 : msg.length - 1]! ^= 0x40;
      expect(code(() => copy.gEst.open(b64encode(msg), "T3"))).toBe("decryption_failed");
      expect(code(() => copy.gEst.open(copy.sEst.seal("again", "T4"), "T4"))).toBe("channel_dead");
      expect(code(() => copy.gEst.seal("x", "T5"))).toBe("channel_dead");
      expect(copy.gEst.isDead).toBe(true);
    }
    sealed[5]! ^= 1;
    expect(code(() => gEst.open(b64encode(sealed), "T3"))).toBe("decryption_failed");
  });

  test("wrong AAD: other token, other rendezvous id, other base URL", () => {
    const a = handshake("element-2026");
    expect(code(() => a.gEst.open(a.sEst.seal("m", "T3"), "T4"))).toBe("decryption_failed");
    // Same keys but a channel bound to another session: build G/S pairs whose sessions differ.
    for (const other of [{ ...SESSION, rendezvousId: "other-id" }, { ...SESSION, baseUrl: "https://evil.example" }, { ...SESSION, baseUrl: "https://matrix-client.matrix.org/sub" }]) {
      const g = GeneratorChannel.create({ session: SESSION });
      const s = ScannerChannel.create({ session: other, peerPublicKey: g.publicKey });
      expect(code(() => g.openLoginInitiate(s.sealLoginInitiate("T1").message, "T1"))).toBe("decryption_failed");
    }
    // The QR carries the root URL without "/"; both spellings give the same href, so they interoperate.
    const g = GeneratorChannel.create({ session: { ...SESSION, baseUrl: "https://matrix-client.matrix.org/" } });
    const s = ScannerChannel.create({ session: SESSION, peerPublicKey: g.publicKey });
    expect(() => g.openLoginInitiate(s.sealLoginInitiate("T1").message, "T1")).not.toThrow();
  });

  test("LoginInitiate opened with the wrong token fails and G is dead", () => {
    const g = GeneratorChannel.create({ session: SESSION });
    const s = ScannerChannel.create({ session: SESSION, peerPublicKey: g.publicKey });
    const { message } = s.sealLoginInitiate("T1");
    expect(code(() => g.openLoginInitiate(message, "T2"))).toBe("decryption_failed");
    expect(code(() => g.openLoginInitiate(message, "T1"))).toBe("channel_dead");
  });

  test("replayed and reordered messages", () => {
    const { gEst, sEst } = handshake("element-2026");
    const m1 = sEst.seal("one", "T3");
    expect(gEst.open(m1, "T3")).toBe("one");
    expect(code(() => gEst.open(m1, "T3"))).toBe("decryption_failed"); // replay
    const r = handshake("msc4388");
    const a = r.sEst.seal("first", "T3");
    const b = r.sEst.seal("second", "T3");
    expect(code(() => r.gEst.open(b, "T3"))).toBe("decryption_failed"); // reordered
    expect(code(() => r.gEst.open(a, "T3"))).toBe("channel_dead"); // and the channel is gone
    // replaying LoginOk (or a LoginInitiate) into the established channel does not open either
    const h = handshake("element-2026");
    expect(code(() => h.sEst.open(h.ok, "T2"))).toBe("decryption_failed");
    const h2 = handshake("element-2026");
    expect(code(() => h2.gEst.open(h2.initiate, "T1"))).toBe("decryption_failed");
  });

  test("a replayed LoginInitiate from an earlier session does not open for a new G", () => {
    const old = handshake("element-2026");
    const g = GeneratorChannel.create({ session: SESSION });
    expect(code(() => g.openLoginInitiate(old.initiate, "T1"))).toBe("decryption_failed");
  });

  test("wrong check code kills G's channel; a malformed code does not", () => {
    const g = GeneratorChannel.create({ session: SESSION });
    const s = ScannerChannel.create({ session: SESSION, peerPublicKey: g.publicKey });
    const { message, pending } = s.sealLoginInitiate("T1");
    const { message: ok, channel } = g.openLoginInitiate(message, "T1").sealLoginOk("T2");
    const sEst = pending.openLoginOk(ok, "T2");
    for (const bad of ["", "5", "05", "100", "4a", "1.5", 9, 100, 12.5, NaN]) {
      expect(code(() => channel.confirm(bad as string | number))).toBe("invalid_check_code");
    }
    const wrong = sEst.checkCode === "99" ? "98" : String(Number(sEst.checkCode) + 1);
    expect(code(() => channel.confirm(wrong))).toBe("check_code_mismatch");
    expect(code(() => channel.confirm(sEst.checkCode))).toBe("channel_dead");
  });

  test("confirm accepts the number or the digits with surrounding spaces", () => {
    const a = handshake("element-2026");
    expect(a.gEst.checkCode).toBe(a.sEst.checkCode);
    const g = GeneratorChannel.create({ session: SESSION });
    const s = ScannerChannel.create({ session: SESSION, peerPublicKey: g.publicKey });
    const x = s.sealLoginInitiate("T1");
    const y = g.openLoginInitiate(x.message, "T1").sealLoginOk("T2");
    const cc = x.pending.openLoginOk(y.message, "T2").checkCode;
    expect(y.channel.confirm(` ${cc} `)).toBeInstanceOf(EstablishedChannel);
  });

  test("Specter scans the same QR and races the real scanner: G is not fooled", () => {
    // Fixed keys so that Specter's and S's codes are known to differ (1 in 90 chance otherwise).
    const gKeys = generateKeyPair();
    const g = GeneratorChannel.create({ session: SESSION, keyPair: gKeys });
    const specter = ScannerChannel.create({ session: SESSION, peerPublicKey: g.publicKey });
    const scanner = ScannerChannel.create({ session: SESSION, peerPublicKey: g.publicKey });
    // Both read T1; Specter's PUT lands first (S's PUT then gets a 409 — or S's lands and is overwritten).
    const spec = specter.sealLoginInitiate("T1");
    const real = scanner.sealLoginInitiate("T1");
    // G opens whatever is in the slot: Specter's message opens fine (base mode does not authenticate S).
    const { message: ok, channel } = g.openLoginInitiate(spec.message, "T1").sealLoginOk("T2");
    // G will not open a second LoginInitiate (the real one) in this attempt.
    expect(code(() => g.openLoginInitiate(real.message, "T1"))).toBe("channel_dead");
    // The real S cannot open LoginOk (it is for Specter's Sp): S never shows a code.
    expect(code(() => real.pending.openLoginOk(ok, "T2"))).toBe("decryption_failed");
    // Specter can, and learns its own check code — but it is displayed only on Specter's device.
    const specterEst = spec.pending.openLoginOk(ok, "T2");
    // The user types something else than Specter's code (they cannot see it): G's channel dies.
    const guess = specterEst.checkCode === "10" ? "11" : "10";
    expect(code(() => channel.confirm(guess))).toBe("check_code_mismatch");
    expect(code(() => channel.confirm(specterEst.checkCode))).toBe("channel_dead");
    // And nothing G would have sent exists: UnconfirmedChannel has no seal at all.
    expect((channel as unknown as { seal?: unknown }).seal).toBeUndefined();
  });

  test("Specter overwrites S's LoginInitiate after S wrote it: the real S fails, G's code check stops Specter", () => {
    const g = GeneratorChannel.create({ session: SESSION });
    const scanner = ScannerChannel.create({ session: SESSION, peerPublicKey: g.publicKey });
    const real = scanner.sealLoginInitiate("T1");
    const specter = ScannerChannel.create({ session: SESSION, peerPublicKey: g.publicKey }).sealLoginInitiate("T2");
    // G sees Specter's message but opens with its POST token T1: Specter sealed with T2 → fails.
    expect(code(() => g.openLoginInitiate(specter.message, "T1"))).toBe("decryption_failed");
    expect(real.pending.publicKey.length).toBe(32);
  });

  test("a LoginInitiate with the right keys but another plaintext is refused", () => {
    const g = GeneratorChannel.create({ session: SESSION });
    const { enc, context } = setupBaseS(g.publicKey, utf8Encode("MATRIX_QR_CODE_LOGIN"));
    const forged = b64encode(concatBytes(enc, context.seal(utf8Encode("MATRIX_QR_CODE_LOGIN_INITIATF"), buildAad(SESSION, "T1"))));
    const err = (() => { try { g.openLoginInitiate(forged, "T1"); } catch (e) { return e as ProtocolError; } throw new Error("no throw"); })();
    expect(err.code).toBe("unexpected_handshake_message");
    expect(err.failureReason).toBe("unexpected_message_received");
  });

  test("low-order Sp in LoginInitiate is refused", () => {
    const g = GeneratorChannel.create({ session: SESSION });
    const msg = b64encode(concatBytes(new Uint8Array(32), new Uint8Array(LOGIN_INITIATE_LENGTH - 32)));
    expect(code(() => g.openLoginInitiate(msg, "T1"))).toBe("invalid_public_key");
  });

  test("wrong sizes and bad encodings are typed errors", () => {
    const mk = () => GeneratorChannel.create({ session: SESSION });
    expect(code(() => mk().openLoginInitiate(b64encode(new Uint8Array(LOGIN_INITIATE_LENGTH - 1)), "T1"))).toBe("invalid_message");
    expect(code(() => mk().openLoginInitiate(b64encode(new Uint8Array(LOGIN_INITIATE_LENGTH + 1)), "T1"))).toBe("invalid_message");
    expect(code(() => mk().openLoginInitiate("", "T1"))).toBe("invalid_message");
    expect(code(() => mk().openLoginInitiate("not base64!", "T1"))).toBe("invalid_base64");
    expect(code(() => mk().openLoginInitiate(42 as unknown as string, "T1"))).toBe("invalid_message");
    const h = handshake("element-2026");
    const s2 = ScannerChannel.create({ session: SESSION, peerPublicKey: generateKeyPair().publicKey }).sealLoginInitiate("T1");
    expect(code(() => s2.pending.openLoginOk(b64encode(new Uint8Array(LOGIN_OK_LENGTH - 1)), "T2"))).toBe("invalid_message");
    expect(code(() => h.gEst.open(b64encode(new Uint8Array(15)), "T3"))).toBe("invalid_message");
    const h2 = handshake("element-2026");
    expect(code(() => h2.gEst.open("####", "T3"))).toBe("invalid_base64");
    const h3 = handshake("element-2026");
    expect(code(() => h3.gEst.open(h3.sEst.seal("x", "T3"), "y".repeat(256)))).toBe("sequence_token_too_long");
    expect(code(() => h3.gEst.open(h3.sEst.seal("x", "T4"), "T4"))).toBe("channel_dead");
    // a too-long token on seal changes nothing
    const h4 = handshake("element-2026");
    expect(code(() => h4.sEst.seal("x", "y".repeat(256)))).toBe("sequence_token_too_long");
    expect(h4.gEst.open(h4.sEst.seal("x", "T3"), "T3")).toBe("x");
    expect(code(() => h4.sEst.seal("\ud800", "T4"))).toBe("invalid_utf8");
  });
});

describe("typestate: single use and no sealing before established", () => {
  test("every handshake object is single-use", () => {
    const h = handshake("element-2026");
    expect(code(() => h.g.openLoginInitiate(h.initiate, "T1"))).toBe("channel_dead");
    expect(code(() => h.opened.sealLoginOk("T2"))).toBe("channel_dead");
    expect(code(() => h.s.sealLoginInitiate("T1"))).toBe("channel_dead");
    expect(code(() => h.pending.openLoginOk(h.ok, "T2"))).toBe("channel_dead");
    expect(code(() => h.channel.confirm(h.sEst.checkCode))).toBe("channel_dead");
  });

  test("a failed LoginOk open leaves the pending scanner dead", () => {
    const g = GeneratorChannel.create({ session: SESSION });
    const s = ScannerChannel.create({ session: SESSION, peerPublicKey: g.publicKey }).sealLoginInitiate("T1");
    const ok = g.openLoginInitiate(s.message, "T1").sealLoginOk("T2").message;
    expect(code(() => s.pending.openLoginOk(ok, "T3"))).toBe("decryption_failed");
    expect(code(() => s.pending.openLoginOk(ok, "T2"))).toBe("channel_dead");
  });

  test("state objects cannot be made or abused from outside", () => {
    const h = handshake("element-2026");
    const Ctor = EstablishedChannel as unknown as new (...a: unknown[]) => EstablishedChannel;
    expect(code(() => new Ctor(Symbol("channel-internal"), "generator"))).toBe("not_established");
    const UCtor = UnconfirmedChannel as unknown as new (...a: unknown[]) => UnconfirmedChannel;
    expect(code(() => new UCtor(undefined))).toBe("not_established");
    // G before confirm(): borrowing EstablishedChannel's methods does not work either.
    const g = GeneratorChannel.create({ session: SESSION });
    const s = ScannerChannel.create({ session: SESSION, peerPublicKey: g.publicKey }).sealLoginInitiate("T1");
    const unconfirmed = g.openLoginInitiate(s.message, "T1").sealLoginOk("T2").channel;
    expect("seal" in unconfirmed).toBe(false);
    expect("open" in unconfirmed).toBe(false);
    expect(code(() => EstablishedChannel.prototype.seal.call(unconfirmed, "x", "T3"))).toBe("not_established");
    expect(code(() => EstablishedChannel.prototype.open.call(h.pending, "x", "T3"))).toBe("not_established");
    expect(code(() => EstablishedChannel.prototype.seal.call({}, "x", "T3"))).toBe("not_established");
  });

  test("keyPair option must be a matching pair; profile objects and names both work", () => {
    const kp = generateKeyPair();
    expect(code(() => GeneratorChannel.create({ session: SESSION, keyPair: { secretKey: kp.secretKey, publicKey: generateKeyPair().publicKey } }))).toBe("invalid_secret_key");
    expect(GeneratorChannel.create({ session: SESSION, keyPair: kp, profile: getProfile("msc4388") }).publicKey).toEqual(kp.publicKey);
    expect(code(() => GeneratorChannel.create({ session: SESSION, profile: "x" as ProfileName }))).toBe("unknown_profile");
    expect(code(() => ScannerChannel.create({ session: SESSION, peerPublicKey: new Uint8Array(31) }))).toBe("invalid_public_key");
  });
});

describe("caller memory", () => {
  test("a Buffer key pair / ephemeral key passed in is copied, not zeroed", () => {
    const kp = generateKeyPair();
    const sk = Buffer.from(kp.secretKey);
    const g = GeneratorChannel.create({ session: SESSION, keyPair: { secretKey: sk, publicKey: Buffer.from(kp.publicKey) } });
    const ss = Buffer.from(generateKeyPair().secretKey);
    const s = ScannerChannel.create({ session: SESSION, peerPublicKey: g.publicKey, ephemeralSecretKey: ss });
    g.openLoginInitiate(s.sealLoginInitiate("T1").message, "T1");
    expect(sk.equals(Buffer.from(kp.secretKey))).toBe(true);
    expect(ss.some((b) => b !== 0)).toBe(true);
  });
});
