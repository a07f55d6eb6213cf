// rendezvous.long-poll: where the server advertises it (qr-login's extension of both APIs,
// docs/protocol.md "Long-poll"), hold one GET for the advertised bound and see whether it comes back
// from the server at the bound, or something in between (a proxy read timeout under the bound) cuts
// it first. The check waits at most `maxHoldMs`; it is the one that makes a healthy run take ~20 s.
import type { LongPollSupport } from "../protocol/rendezvous-long-poll.js";
import type { DoctorContext } from "./context.js";
import { FIX } from "./fixes.js";
import { describe, isMatrixJson, ProbeError, type Answer } from "./probe.js";
import { post2024, strongForm } from "./rendezvous-2024.js";
import { create2025, type Prefix } from "./rendezvous-2025.js";

/** Who advertised it, and how to hold a GET there. */
export type LongPollTarget = { readonly api: "2025"; readonly prefix: Prefix; readonly support: LongPollSupport } | { readonly api: "2024"; readonly support: LongPollSupport };

/** An answer this much before the bound still counts as "at the bound" (timers, the first poll's latency). */
const EARLY_SLACK_MS = 1_500;

export async function checkLongPoll(ctx: DoctorContext, target: LongPollTarget | null, notOffered: string): Promise<void> {
  const id = "rendezvous.long-poll" as const;
  if (!target) return void ctx.report(id, "skip", notOffered);
  const boundMs = target.support.maxWaitMs;
  const waitMs = Math.min(boundMs, ctx.maxHoldMs);
  const boundS = Math.round(boundMs / 100) / 10;
  const label = target.api === "2025" ? `2025 version, ${target.prefix.label}` : "2024 version";
  let url: string;
  let headers: Record<string, string>;
  let unchanged: (a: Answer) => boolean;
  if (target.api === "2025") {
    const c = await create2025(ctx, target.prefix, "");
    if (!c.ok) return void ctx.report(id, "skip", `not checked: no session could be created (${c.summary})`);
    const u = new URL(c.session.url);
    u.searchParams.set(target.support.queryParameter, c.session.token);
    url = u.href;
    headers = { accept: "application/json" };
    unchanged = (a) => a.status === 200 && a.json?.["sequence_token"] === c.session.token;
  } else {
    const r = await post2024(ctx, "qr-login doctor long-poll");
    const created = r instanceof ProbeError ? null : r.hops.at(-1)!;
    const sessionUrl = created?.json?.["url"];
    const etag = created?.headers.get("etag");
    if (!created || typeof sessionUrl !== "string" || !etag) return void ctx.report(id, "skip", "not checked: no 2024 session with an ETag could be created (see rendezvous-2024.create)");
    ctx.sessions.add(sessionUrl);
    const u = new URL(sessionUrl);
    u.searchParams.set(target.support.queryParameter, strongForm(etag));
    url = u.href;
    headers = { "if-none-match": strongForm(etag) };
    unchanged = (a) => a.status === 304;
  }
  ctx.running(id, `holding a GET (${label}) for up to ${Math.round(waitMs / 1000)} s (the server's bound is ${boundS} s)`);
  const started = performance.now();
  let a: Answer;
  try {
    a = await ctx.prober.request(url, { headers, extraMs: waitMs });
  } catch (err) {
    if (!(err instanceof ProbeError)) throw err;
    const heldS = ((performance.now() - started) / 1000).toFixed(1);
    if (err.kind === "timeout" && waitMs < boundMs) return void ctx.report(id, "pass", `${label}: a GET was held ${heldS} s without being cut (the server's bound is ${boundS} s; not waited longer)`);
    if (err.kind === "timeout") return void ctx.report(id, "fail", `${label}: a held GET had no answer ${heldS} s after it was sent, well past the server's bound of ${boundS} s`, FIX.longPollCut(boundS));
    return void ctx.report(id, "fail", `${label}: the held GET was cut after ${heldS} s (${err.message}), before the server's bound of ${boundS} s`, FIX.longPollCut(boundS));
  }
  const heldMs = performance.now() - started;
  const heldS = (heldMs / 1000).toFixed(1);
  if (unchanged(a) && heldMs >= waitMs - EARLY_SLACK_MS) {
    ctx.report(id, "pass", `${label}: a GET was held ${heldS} s and answered by the server at its bound of ${boundS} s, through everything in between`);
  } else if (unchanged(a)) {
    ctx.report(id, "warn", `${label}: a held GET was answered unchanged after ${heldS} s, not at the server's bound of ${boundS} s: it was not held (the server at its cap of held GETs, or a cache answered)`,
      "Look at the rendezvous server's long_poll_max_held and at caches in front of it (nginx proxy_cache off;).");
  } else if (!isMatrixJson(a) || a.status >= 500) {
    ctx.report(id, "fail", `${label}: the held GET was cut after ${heldS} s with ${describe(a)}, before the server's bound of ${boundS} s`, FIX.longPollCut(boundS));
  } else {
    ctx.report(id, "fail", `${label}: the held GET answered ${describe(a)} after ${heldS} s`, FIX.longPollCut(boundS));
  }
}
