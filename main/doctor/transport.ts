// Transport, from everything the other checks saw: TLS (https with a certificate this computer trusts;
// plain http is a warning on loopback and a failure anywhere else) and clock skew (the Date headers
// against this computer's clock; for the 2024 version also Expires, which matrix-js-sdk arms its
// timer from: matrix-js-sdk#5141).
import type { DoctorContext } from "./context.js";
import { FIX } from "./fixes.js";
import type { Answer } from "./probe.js";
import { isLoopbackHost } from "../login/url-policy.js";

/** Below this the skew does not matter; from FAIL_S on, a 2024 session loses half of Synapse's 60 s. */
const WARN_S = 5;
const FAIL_S = 30;

export function checkTls(ctx: DoctorContext): void {
  const tlsError = ctx.prober.failures.find((e) => e.kind === "tls");
  if (tlsError) return void ctx.report("tls", "fail", tlsError.message, FIX.tlsError);
  const origins = new Map<string, URL>();
  for (const a of ctx.prober.answers) {
    const u = new URL(a.url);
    origins.set(u.origin, u);
  }
  if (origins.size === 0) return void ctx.report("tls", "skip", "not checked: nothing answered");
  const plain = [...origins.values()].filter((u) => u.protocol === "http:");
  const remote = plain.filter((u) => !isLoopbackHost(u.hostname));
  if (remote.length) return void ctx.report("tls", "fail", `plain http to ${remote.map((u) => u.origin).join(", ")}: Element X and browsers refuse it, and anyone on the way can read and change the sign-in's messages`, FIX.plainHttp);
  if (plain.length) return void ctx.report("tls", "warn", `plain http on this machine (${plain.map((u) => u.origin).join(", ")})`, FIX.plainHttpLoopback);
  ctx.report("tls", "pass", `https with a certificate this computer trusts (${[...origins.keys()].join(", ")})`);
}

interface Sample {
  readonly skewMs: number;
  readonly uncertaintyMs: number;
}

function sample(a: Answer): Sample | null {
  const date = Date.parse(a.headers.get("date") ?? "");
  if (Number.isNaN(date)) return null;
  // HTTP dates have whole seconds: the server's clock read anywhere in [date, date + 1 s).
  const local = (a.sentAt + a.receivedAt) / 2;
  return { skewMs: date + 500 - local, uncertaintyMs: (a.receivedAt - a.sentAt) / 2 + 500 };
}

export function checkClock(ctx: DoctorContext): void {
  const answers = ctx.prober.answers;
  if (answers.length === 0) return void ctx.report("clock", "skip", "not checked: nothing answered");
  const samples = answers.map(sample).filter((s): s is Sample => s !== null).sort((x, y) => x.skewMs - y.skewMs);
  if (samples.length === 0) return void ctx.report("clock", "warn", "no answer carried a Date header, so the server's clock cannot be compared", "Let the proxy pass a Date header (HTTP servers must send one).");
  const median = samples[Math.floor(samples.length / 2)]!;
  const skewS = Math.abs(median.skewMs) <= median.uncertaintyMs ? 0 : Math.round((Math.abs(median.skewMs) - median.uncertaintyMs) / 1000);
  const direction = median.skewMs > 0 ? "ahead of" : "behind";
  const expiry = expiry2024(answers);
  const expiryNote = expiry ? `; a 2024 session lives ${expiry.serverS} s, and matrix-js-sdk, reading Expires against this computer's clock, would give it ${expiry.clientS} s` : "";
  if (expiry && expiry.serverS <= 0) {
    return void ctx.report("clock", "fail", `the 2024 version's Expires is not after the answer's Date (Expires − Date = ${expiry.serverS} s): clients give up the session at once`, "Fix the rendezvous server's session lifetime, or the proxy rewriting Expires.");
  }
  if (skewS >= FAIL_S) {
    ctx.report("clock", "fail", `the server's clock is about ${skewS} s ${direction} this computer's${expiryNote}`, FIX.clock);
  } else if (skewS >= WARN_S) {
    ctx.report("clock", "warn", `the server's clock is about ${skewS} s ${direction} this computer's${expiryNote}`, FIX.clock);
  } else {
    ctx.report("clock", "pass", `the server's clock agrees with this computer's (within ${Math.ceil(median.uncertaintyMs / 100) / 10} s, ${samples.length} answers)${expiryNote}`);
  }
}

/** The 2024 POST's Expires, as the server means it (− Date) and as matrix-js-sdk takes it (− the local clock). */
function expiry2024(answers: readonly Answer[]): { serverS: number; clientS: number } | null {
  const post = answers.find((a) => a.method === "POST" && (a.status === 201 || a.status === 200) && a.headers.get("expires") !== null && a.headers.get("etag") !== null);
  if (!post) return null;
  const expires = Date.parse(post.headers.get("expires")!);
  const date = Date.parse(post.headers.get("date") ?? "");
  if (Number.isNaN(expires) || Number.isNaN(date)) return null;
  return { serverS: Math.round((expires - date) / 1000), clientS: Math.round((expires - post.receivedAt) / 1000) };
}
