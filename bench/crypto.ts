// npm run bench:crypto — our MSC4388 core vs @hpke/core, side by side, in one run.
//
// Rows:
//   handshake/s  ours: G key pair, S setup, LoginInitiate seal+open, response context, LoginOk
//                seal+open, check code on both sides and confirm() — a full G+S handshake.
//                @hpke/core: recipient key pair, SetupBaseS + seal, SetupBaseR + open, and the
//                same exports (32-byte response secret + 2-byte check code) on both sides. It does
//                *less* than ours (no response context, no LoginOk round).
//   seal+open/s  one 1 KiB message sealed by one context and opened by its peer (HPKE layer;
//                the "channel" row adds UTF-8 and base64 as the wire needs).
// Two @hpke/core configurations: pure JS (@hpke/dhkem-x25519 + @hpke/chacha20poly1305: noble-based,
// the like-for-like comparison) and WebCrypto (@hpke/core's built-in X25519 KEM: native X25519/HKDF
// in Node through OpenSSL, which pure JS code cannot match and Chromium may not offer).
import { CipherSuite, DhkemX25519HkdfSha256 as NativeX25519Kem, HkdfSha256 as NativeHkdf } from "@hpke/core";
import { Chacha20Poly1305 } from "@hpke/chacha20poly1305";
import { DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/dhkem-x25519";
import { b64encode, utf8Encode } from "../main/protocol/bytes.js";
import { GeneratorChannel, ScannerChannel } from "../main/protocol/channel.js";
import { generateKeyPair, setupBaseR, setupBaseS } from "../main/protocol/hpke.js";

const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 1);
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 5);
const session = { baseUrl: "https://matrix-client.matrix.org", rendezvousId: "e8da6355-550b-4a32-a193-1619d9830668" };
const info = utf8Encode("MATRIX_QR_CODE_LOGIN");
const aad = utf8Encode("\u0000!https://matrix-client.matrix.org/$e8da6355-550b-4a32-a193-1619d9830668\u0004SEQ1");
const initiate = utf8Encode("MATRIX_QR_CODE_LOGIN_INITIATE");
const respLabel = utf8Encode("MATRIX_QR_CODE_LOGIN_RESPONSE");
const ccLabel = utf8Encode("MATRIX_QR_CODE_LOGIN_CHECKCODE|x|y");
const KIB = crypto.getRandomValues(new Uint8Array(1024));
const KIB_TEXT = b64encode(KIB).slice(0, 1024);

async function rate(fn: () => unknown | Promise<unknown>): Promise<number> {
  // warm-up (JIT), then count iterations for SECONDS
  const warmEnd = performance.now() + 300;
  while (performance.now() < warmEnd) await fn();
  let n = 0;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 8; i++) await fn();
    n += 8;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

/** Sync loops measured without awaiting each call (no microtask cost for our synchronous code). */
function rateSync(fn: () => unknown): number {
  const warmEnd = performance.now() + 300;
  while (performance.now() < warmEnd) fn();
  let n = 0;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 8; i++) fn();
    n += 8;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

function oursHandshake(): void {
  const g = GeneratorChannel.create({ session });
  const s = ScannerChannel.create({ session, peerPublicKey: g.publicKey });
  const { message, pending } = s.sealLoginInitiate("T1");
  const { message: ok, channel } = g.openLoginInitiate(message, "T1").sealLoginOk("T2");
  const est = pending.openLoginOk(ok, "T2");
  channel.confirm(est.checkCode);
}

function hpkeHandshake(suite: CipherSuite): () => Promise<void> {
  return async () => {
    const rkp = await suite.kem.generateKeyPair();
    const sender = await suite.createSenderContext({ recipientPublicKey: rkp.publicKey, info });
    const ct = await sender.seal(initiate, aad);
    const recipient = await suite.createRecipientContext({ recipientKey: rkp, enc: sender.enc, info });
    await recipient.open(ct, aad);
    await sender.export(respLabel, 32);
    await recipient.export(respLabel, 32);
    await sender.export(ccLabel, 2);
    await recipient.export(ccLabel, 2);
  };
}

async function hpkeSealOpen(suite: CipherSuite): Promise<() => Promise<void>> {
  const rkp = await suite.kem.generateKeyPair();
  const sender = await suite.createSenderContext({ recipientPublicKey: rkp.publicKey, info });
  const recipient = await suite.createRecipientContext({ recipientKey: rkp, enc: sender.enc, info });
  return async () => {
    await recipient.open(await sender.seal(KIB, aad), aad);
  };
}

function oursSealOpen(): () => void {
  const kp = generateKeyPair();
  const { enc, context } = setupBaseS(kp.publicKey, info);
  const r = setupBaseR(enc, kp.secretKey, info);
  return () => {
    r.open(context.seal(KIB, aad), aad);
  };
}

/** An established G/S pair, for the channel-level row. */
function establishedPair() {
  const g = GeneratorChannel.create({ session });
  const s = ScannerChannel.create({ session, peerPublicKey: g.publicKey });
  const a = s.sealLoginInitiate("T1");
  const b = g.openLoginInitiate(a.message, "T1").sealLoginOk("T2");
  const sEst = a.pending.openLoginOk(b.message, "T2");
  return { g: b.channel.confirm(sEst.checkCode), s: sEst };
}

/** Median of interleaved rounds, so drift in machine load hits every column alike. */
async function interleaved(fns: (() => Promise<number>)[], rounds = ROUNDS): Promise<number[]> {
  const results: number[][] = fns.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < fns.length; i++) results[i]!.push(await fns[i]!());
  }
  return results.map((xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!);
}

function fmt(n: number): string {
  return n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0);
}

async function main(): Promise<void> {
  const pureJs = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Chacha20Poly1305() });
  const webCrypto = new CipherSuite({ kem: new NativeX25519Kem(), kdf: new NativeHkdf(), aead: new Chacha20Poly1305() });

  const pair = establishedPair();
  console.log(`bench:crypto — median of ${ROUNDS} interleaved ${SECONDS}s runs per cell, Node ${process.version}, ${new Date().toISOString()}`);
  const [hsOurs, hsPure, hsWeb] = (await interleaved([
    async () => rateSync(oursHandshake),
    () => rate(hpkeHandshake(pureJs)),
    () => rate(hpkeHandshake(webCrypto)),
  ])) as [number, number, number];
  const oursSO = oursSealOpen();
  const pureSO = await hpkeSealOpen(pureJs);
  const webSO = await hpkeSealOpen(webCrypto);
  const [soOurs, soPure, soWeb, soChan] = (await interleaved([
    async () => rateSync(oursSO),
    () => rate(pureSO),
    () => rate(webSO),
    async () => rateSync(() => pair.g.open(pair.s.seal(KIB_TEXT, "T3"), "T3")),
  ])) as [number, number, number, number];

  const rows: [string, number, number, number][] = [
    ["full handshake (G+S) /s", hsOurs, hsPure, hsWeb],
    ["seal+open 1 KiB /s", soOurs, soPure, soWeb],
  ];
  const pad = (s: string, n: number) => s.padEnd(n);
  console.log("");
  console.log(`${pad("", 26)}${pad("ours", 10)}${pad("@hpke pureJS", 14)}${pad("ratio", 8)}${pad("@hpke WebCrypto", 17)}ratio`);
  for (const [name, ours, pure, web] of rows) {
    console.log(`${pad(name, 26)}${pad(fmt(ours), 10)}${pad(fmt(pure), 14)}${pad(`${(ours / pure).toFixed(2)}x`, 8)}${pad(fmt(web), 17)}${(ours / web).toFixed(2)}x`);
  }
  console.log(`${pad("channel seal+open 1 KiB/s", 26)}${pad(fmt(soChan), 10)}(ours incl. UTF-8 + base64 + AAD; no @hpke equivalent)`);
  console.log("");
  const verdict = (ok: boolean) => (ok ? "met" : "NOT met");
  console.log(`goal seal+open >= 1.0x @hpke/core (pure JS): ${verdict(soOurs >= soPure)} (${(soOurs / soPure).toFixed(2)}x; vs WebCrypto ${(soOurs / soWeb).toFixed(2)}x)`);
  console.log(`goal handshake >= 0.5x @hpke/core (pure JS): ${verdict(hsOurs >= 0.5 * hsPure)} (${(hsOurs / hsPure).toFixed(2)}x; vs WebCrypto ${(hsOurs / hsWeb).toFixed(2)}x — native X25519)`);
}

await main();
