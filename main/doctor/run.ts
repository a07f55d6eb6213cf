// runDoctor: the whole diagnosis of one deployment, as the CLI and the app run it.
//   1. the target → base URL (a server name through .well-known), then /versions: the gate;
//   2. at once: OAuth 2.0, the 2025 discovery at both prefixes, the 2024 create;
//   3. at once: the sessions' walks, the browser's view of CORS, the held GET (the long one);
//   4. every session still there is deleted; TLS and clock from everything that answered; the verdict.
// Every id of the plan is reported exactly once; a check that could not run says why.
import type { FetchLike } from "../protocol/rendezvous-http.js";
import { DoctorContext } from "./context.js";
import { probeVersions, reportVersions, resolveServerName, type GateFailure, type VersionsFacts } from "./discovery.js";
import { Findings } from "./findings.js";
import { FIX } from "./fixes.js";
import { checkLongPoll, type LongPollTarget } from "./long-poll.js";
import { checkOAuth } from "./oauth.js";
import { Prober } from "./probe.js";
import { cors2024, cors2025 } from "./cors.js";
import { CHECKS_2024, create2024, walk2024 } from "./rendezvous-2024.js";
import { CHECKS_2025, discover2025, walk2025, type Discovery2025 } from "./rendezvous-2025.js";
import { parseTarget } from "./target.js";
import { checkClock, checkTls } from "./transport.js";
import { CHECK_IDS, titleOf, type CheckId, type DoctorEvent, type DoctorReport } from "./types.js";
import { verdict, type Creation } from "./verdict.js";
import { describe } from "./probe.js";

export interface DoctorOptions {
  readonly fetch?: FetchLike;
  readonly signal?: AbortSignal;
  readonly onEvent?: (e: DoctorEvent) => void;
  /** Per request (default 10 s). */
  readonly requestTimeoutMs?: number;
  /** The longest the held GET is waited for (default 30 s). */
  readonly maxHoldMs?: number;
  /** Register one test client and request one device authorization (--register-client). */
  readonly registerClient?: boolean;
  /** Lets the checks create sessions where only signed-in devices may (authenticated mode). */
  readonly accessToken?: string;
  /** The wall clock (tests). */
  readonly now?: () => number;
}

export async function runDoctor(input: string, opts: DoctorOptions = {}): Promise<DoctorReport> {
  const target = parseTarget(input);
  const plan = CHECK_IDS.filter((id) => id !== "discovery.well-known" || target.kind === "server_name");
  const onEvent = opts.onEvent ?? (() => undefined);
  onEvent({ type: "plan", target: target.input, checks: plan.map((id) => ({ id, title: titleOf(id) })) });
  const prober = new Prober({
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.now ? { now: opts.now } : {}),
    timeoutMs: opts.requestTimeoutMs ?? 10_000,
  });
  const ctx = new DoctorContext({ prober, baseUrl: target.kind === "url" ? target.baseUrl : "", accessToken: opts.accessToken, maxHoldMs: opts.maxHoldMs ?? 30_000, onEvent });

  let gate: GateFailure | undefined;
  let facts: { creation2024: Creation; creation2025: Creation; advertises2024: boolean } = { creation2024: "none", creation2025: "none", advertises2024: false };
  try {
    if (target.kind === "server_name") {
      ctx.running("discovery.well-known", `GET https://${target.serverName}/.well-known/matrix/client`);
      const r = await resolveServerName(ctx, target.serverName);
      if ("id" in r) gate = r;
      else ctx.baseUrl = r.baseUrl;
    }
    if (!gate) {
      const v = await probeVersions(ctx);
      if ("id" in v) gate = v;
      else facts = await checkDeployment(ctx, v.facts, opts);
    }
    if (gate) ctx.report(gate.id, "fail", gate.summary, gate.fix);
  } finally {
    // Clean up even when cancelled: a cleanup prober of its own, with a short timeout.
    if (ctx.sessions.count) await ctx.sessions.deleteAll(new Prober({ ...(opts.fetch ? { fetch: opts.fetch } : {}), timeoutMs: 5_000 }));
  }
  checkTls(ctx);
  checkClock(ctx);
  const why = gate ? `the homeserver could not be asked (see ${gate.id})` : "an earlier step failed";
  for (const id of plan) if (!ctx.has(id)) ctx.report(id, "skip", `not checked: ${why}`);
  const checks = plan.map((id) => ctx.results.get(id)!);
  return {
    target: target.input,
    baseUrl: ctx.baseUrl || null,
    ok: checks.every((c) => c.status !== "fail"),
    checks,
    verdict: verdict({ results: ctx.results, ...facts, unreachable: gate?.id }),
  };
}

async function checkDeployment(ctx: DoctorContext, versions: VersionsFacts, opts: DoctorOptions): Promise<{ creation2024: Creation; creation2025: Creation; advertises2024: boolean }> {
  const f24 = new Findings();
  const [, disc25, api24] = await Promise.all([
    checkOAuth(ctx, versions, { registerClient: opts.registerClient === true }),
    discover2025(ctx),
    create2024(ctx, versions.advertises2024, f24),
  ]);
  const tasks: Promise<void>[] = [];
  const body24 = new Findings();
  const body25 = new Findings();
  let creation2024: Creation = "none";
  let longPoll: LongPollTarget | null = null;
  let longPollWhy = "the server does not hold GETs (long-poll, qr-login's extension advertised as io.github.qr_login.long_poll): clients poll about once a second instead, which works";

  // The 2024 version.
  const rest24 = CHECKS_2024.filter((id) => id !== "rendezvous-2024.create" && id !== "rendezvous-2024.cors");
  const pass24: Partial<Record<CheckId, string>> = {
    "rendezvous-2024.consistent": "every read before and after a write saw the session as last written, and a deleted session was gone",
    "rendezvous-2024.etag": "every answer (POST, GET, 304, PUT) carried a strong ETag, also when asked with Accept-Encoding: gzip",
    "rendezvous-2024.conditional": "a current If-None-Match got 304, a current If-Match wrote, an outdated If-Match got 412",
    "rendezvous-2024.content-type": "payloads came back as exactly text/plain",
  };
  if (api24.kind === "not_offered") {
    for (const id of CHECKS_2024) ctx.report(id, "skip", `the deployment does not offer the 2024 version: ${api24.why}`);
  } else if (api24.kind === "authenticated") {
    creation2024 = "authenticated";
    ctx.report("rendezvous-2024.create", "pass", `served, but POST answered ${describe(api24.answer)}: only signed-in devices may create sessions (authenticated mode)`);
    ctx.notChecked([...rest24, "rendezvous-2024.cors"], "creating a session needs an access token here (give one in QR_LOGIN_ACCESS_TOKEN to check)");
  } else if (api24.kind === "broken") {
    f24.report(ctx, ["rendezvous-2024.create"], {}, "");
    ctx.notChecked([...rest24, "rendezvous-2024.cors"], "no 2024 session could be created (see rendezvous-2024.create)");
  } else {
    const { created } = api24;
    f24.report(ctx, ["rendezvous-2024.create"], {}, "");
    if (ctx.statusOf("rendezvous-2024.create") === "fail") {
      ctx.notChecked([...rest24, "rendezvous-2024.cors"], "the session URL cannot be used (see rendezvous-2024.create)");
    } else {
      creation2024 = "open";
      if (created.longPoll) longPoll = { api: "2024", support: created.longPoll };
      tasks.push(walk2024(ctx, created, f24, body24).then(() => f24.report(ctx, rest24, pass24, "the walk through the session stopped early")));
      tasks.push(cors2024(ctx));
    }
  }

  // The 2025 version.
  const served = disc25.filter((d): d is Extract<Discovery2025, { kind: "served" }> => d.kind === "served");
  const creatable = served.filter((d) => d.create);
  let creation2025: Creation = "none";
  const rest25 = CHECKS_2025.filter((id) => id !== "rendezvous-2025.create");
  const describePrefixes = disc25.map((d) => `${d.prefix.label}: ${d.kind === "served" ? "served" : d.kind === "error" ? d.detail : describe(d.answer)}`).join("; ");
  if (served.length === 0) {
    const unrouted = disc25.some((d) => d.kind === "unrouted" || d.kind === "error");
    if (versions.advertises2025) {
      ctx.report("rendezvous-2025.create", "fail", `/versions lists io.element.msc4388, but neither prefix serves it (${describePrefixes})`, FIX.route2025);
      ctx.notChecked(rest25, "the 2025 version is not reachable (see rendezvous-2025.create)");
    } else if (unrouted) {
      ctx.report("rendezvous-2025.create", "warn", `the 2025 version is not served, or not routed: the answers do not come from a homeserver (${describePrefixes})`, `${FIX.route2025} Otherwise: ${FIX.enable2025}`);
      ctx.notChecked(rest25, "the 2025 version is not served (see rendezvous-2025.create)");
    } else {
      for (const id of CHECKS_2025) ctx.report(id, "skip", `the deployment does not offer the 2025 version (${describePrefixes})`);
    }
  } else if (creatable.length === 0) {
    creation2025 = "authenticated";
    ctx.report("rendezvous-2025.create", "pass", `served at ${served.map((d) => d.prefix.label).join(" and ")}; only signed-in devices may create sessions (authenticated mode${served[0]!.answer.status === 200 ? ", create_available: false" : `, ${describe(served[0]!.answer)} without a token`})`);
    ctx.notChecked(rest25, "creating a session needs an access token here (give one in QR_LOGIN_ACCESS_TOKEN to check)");
  } else {
    creation2025 = "open";
    const primary = creatable[0]!;
    const f25 = new Findings();
    const unstableUnrouted = disc25.find((d) => d.prefix === disc25[0]!.prefix && d.kind !== "served" && d.kind !== "unrecognized");
    if (unstableUnrouted) f25.warn("rendezvous-2025.create", `${unstableUnrouted.prefix.label} ${unstableUnrouted.kind === "error" ? unstableUnrouted.detail : `answers ${describe(unstableUnrouted.answer)}`}: Element X uses that prefix only`, FIX.route2025);
    if (primary.longPoll) longPoll = { api: "2025", prefix: primary.prefix, support: primary.longPoll };
    tasks.push((async () => {
      const walks = await Promise.all(creatable.map(async (d) => {
        const f = new Findings();
        await walk2025(ctx, d.prefix, f, d === primary ? body25 : null);
        return { f, d };
      }));
      for (const { f, d } of walks) f25.absorb(f, walks.length > 1 ? d.prefix.label : "");
      f25.report(ctx, CHECKS_2025.filter((id) => id !== "rendezvous-2025.cors"), {
        "rendezvous-2025.create": `served at ${creatable.map((d) => d.prefix.label).join(" and ")}`,
        "rendezvous-2025.consistent": "every read before and after a write saw the session as last written, and a deleted session was gone",
        "rendezvous-2025.sequence": "each write got a new sequence_token that reads return byte for byte; a retried write was accepted, a stale one refused",
      }, "the walk through the session stopped early");
    })());
    tasks.push(cors2025(ctx, primary.prefix));
  }
  if (!longPoll && creation2024 === "none" && creation2025 === "none") longPollWhy = "not checked: no rendezvous session can be created here";

  tasks.push(checkLongPoll(ctx, longPoll, longPollWhy));
  await Promise.all(tasks);

  // One line for the 4 KiB payload, from both versions' walks.
  const body = new Findings();
  body.absorb(body24);
  body.absorb(body25);
  const bodyProblem = body.problem("rendezvous.body-size");
  if (bodyProblem) ctx.report("rendezvous.body-size", bodyProblem.status, bodyProblem.summary, bodyProblem.fix);
  else if (body.status("rendezvous.body-size") === "pass") ctx.report("rendezvous.body-size", "pass", "4 KiB payloads (the MSC's limit) go through to the server and back");
  else ctx.report("rendezvous.body-size", "skip", creation2024 === "none" && creation2025 === "none" ? "not checked: no rendezvous session can be created here" : "not checked: the session walks stopped before the 4 KiB write");

  reportVersions(ctx, versions, served.length > 0);
  return { creation2024, creation2025, advertises2024: versions.advertises2024 };
}
