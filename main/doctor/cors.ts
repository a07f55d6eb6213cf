// A browser's view of CORS (Fetch standard): what Element Web on another origin sends, and what its
// browser then requires of every answer. A request that is not "simple" (a PUT, a DELETE, a GET with
// If-None-Match, a JSON POST) is preceded by a preflight OPTIONS that must allow the method and the
// headers; every answer must carry one Access-Control-Allow-Origin matching the page; a response
// header the page reads (the 2024 version's ETag) must be exposed. One session per API.
import { BROWSER_ORIGIN, type DoctorContext } from "./context.js";
import { FIX } from "./fixes.js";
import { describe, ProbeError, type Answer } from "./probe.js";
import { create2025, type Prefix } from "./rendezvous-2025.js";
import { post2024 } from "./rendezvous-2024.js";
import type { CheckId } from "./types.js";

const SIMPLE_METHODS = new Set(["GET", "HEAD", "POST"]);

function list(value: string | null): string[] {
  return (value ?? "").split(",").map((v) => v.trim().toLowerCase()).filter(Boolean);
}

/** Why a browser on `origin` would refuse this answer, or null. */
export function answerProblem(a: Answer, what: string, origin: string, expose: readonly string[] = []): { summary: string; duplicate: boolean } | null {
  const acao = a.headers.get("access-control-allow-origin");
  if (acao === null) return { summary: `${what} has no Access-Control-Allow-Origin: the browser hides it from Element Web`, duplicate: false };
  if (acao.includes(",")) return { summary: `${what} carries Access-Control-Allow-Origin twice ("${acao}"): browsers refuse it`, duplicate: true };
  if (acao.trim() !== "*" && acao.trim() !== origin) return { summary: `${what} allows origin ${acao}, not ${origin}`, duplicate: false };
  const exposed = list(a.headers.get("access-control-expose-headers"));
  for (const h of expose) {
    if (!exposed.includes(h.toLowerCase()) && !exposed.includes("*")) {
      return { summary: `${what} does not expose ${h} (Access-Control-Expose-Headers: ${a.headers.get("access-control-expose-headers") ?? "none"}): Element Web cannot read it`, duplicate: false };
    }
  }
  return null;
}

/** The preflight a browser sends before `method` with `headers` (lower-case, not CORS-safelisted). */
async function preflight(ctx: DoctorContext, url: string, method: string, headers: readonly string[], origin: string): Promise<{ summary: string; duplicate: boolean } | null> {
  const what = `the preflight (OPTIONS) for ${method}${headers.length ? ` with ${headers.join(", ")}` : ""}`;
  const a = await ctx.prober.request(url, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": method, ...(headers.length ? { "access-control-request-headers": headers.join(",") } : {}) },
  });
  if (a.status < 200 || a.status > 299) return { summary: `${what} answered ${describe(a)}`, duplicate: false };
  const p = answerProblem(a, what, origin);
  if (p) return p;
  const methods = list(a.headers.get("access-control-allow-methods"));
  if (!SIMPLE_METHODS.has(method) && !methods.includes(method.toLowerCase()) && !methods.includes("*")) {
    return { summary: `${what} does not allow ${method} (Access-Control-Allow-Methods: ${a.headers.get("access-control-allow-methods") ?? "none"})`, duplicate: false };
  }
  const allowed = list(a.headers.get("access-control-allow-headers"));
  const missing = headers.filter((h) => !allowed.includes(h) && !allowed.includes("*"));
  if (missing.length) return { summary: `${what} does not allow ${missing.join(", ")} (Access-Control-Allow-Headers: ${a.headers.get("access-control-allow-headers") ?? "none"})`, duplicate: false };
  return null;
}

/** Runs `steps` in order; the first problem is the finding. */
async function firstProblem(steps: (() => Promise<{ summary: string; duplicate: boolean } | null>)[]): Promise<{ summary: string; duplicate: boolean } | null> {
  for (const step of steps) {
    const p = await step();
    if (p) return p;
  }
  return null;
}

function reportOutcome(ctx: DoctorContext, id: CheckId, p: { summary: string; duplicate: boolean } | null, pass: string, fix: string): void {
  if (p) ctx.report(id, "fail", p.summary, p.duplicate ? FIX.duplicateCors : fix);
  else ctx.report(id, "pass", pass);
}

/** rendezvous-2024.cors: matrix-js-sdk's requests from Element Web's origin, on a session of its own. */
export async function cors2024(ctx: DoctorContext, origin = BROWSER_ORIGIN): Promise<void> {
  const id: CheckId = "rendezvous-2024.cors";
  ctx.running(id, `the 2024 requests as Element Web on ${origin} sends them`);
  try {
    const r = await post2024(ctx, `qr-login doctor cors ${crypto.randomUUID()}`, { origin }, "null");
    if (r instanceof ProbeError) return void ctx.report(id, "skip", `not checked: the POST failed (${r.message})`);
    const hops = r.hops;
    for (const hop of hops.slice(0, -1)) {
      const p = answerProblem(hop, `the delegation redirect (${hop.status})`, origin);
      if (p) return reportOutcome(ctx, id, p, "", FIX.cors2024);
    }
    const created = hops.at(-1)!;
    const url = created.json?.["url"];
    if ((created.status !== 201 && created.status !== 200) || typeof url !== "string") return void ctx.report(id, "skip", `not checked: the POST answered ${describe(created)} (see rendezvous-2024.create)`);
    ctx.sessions.add(url);
    const sentOrigin = hops.length > 1 && new URL(created.url).origin !== new URL(hops[0]!.url).origin ? "null" : origin;
    let etag = created.headers.get("etag") ?? "";
    const p = await firstProblem([
      async () => answerProblem(created, "the POST's answer", sentOrigin, ["ETag"]),
      async () => {
        const g = await ctx.prober.request(url, { headers: { origin } });
        etag = g.headers.get("etag") ?? etag;
        return answerProblem(g, "a GET's answer", origin, ["ETag"]);
      },
      () => preflight(ctx, url, "GET", ["if-none-match"], origin),
      async () => answerProblem(await ctx.prober.request(url, { headers: { origin, "if-none-match": etag.replace(/^W\//, "") } }), "a GET with If-None-Match", origin, ["ETag"]),
      () => preflight(ctx, url, "PUT", ["if-match"], origin),
      async () => answerProblem(await ctx.prober.request(url, { method: "PUT", headers: { origin, "content-type": "text/plain", "if-match": etag.replace(/^W\//, "") }, body: "qr-login doctor cors write" }), "a PUT's answer", origin, ["ETag"]),
      () => preflight(ctx, url, "DELETE", [], origin),
      async () => {
        const d = await ctx.prober.request(url, { method: "DELETE", headers: { origin } });
        if (d.status >= 200 && d.status < 300) ctx.sessions.deleted(url);
        return answerProblem(d, "a DELETE's answer", origin);
      },
    ]);
    reportOutcome(ctx, id, p, `from ${origin}: the preflights for GET with If-None-Match, PUT with If-Match and DELETE pass, and every answer allows the origin and exposes ETag`, FIX.cors2024);
  } catch (err) {
    if (!(err instanceof ProbeError)) throw err;
    ctx.report(id, "fail", `a request failed: ${err.message}`, FIX.cors2024);
  }
}

/** rendezvous-2025.cors: a browser client's requests (JSON, Authorization when signed in), on one prefix. */
export async function cors2025(ctx: DoctorContext, prefix: Prefix, origin = BROWSER_ORIGIN): Promise<void> {
  const id: CheckId = "rendezvous-2025.cors";
  ctx.running(id, `the 2025 requests from ${origin}`);
  const base = ctx.url(prefix.path);
  try {
    const pre = await firstProblem([
      () => preflight(ctx, base, "GET", ["authorization"], origin),
      () => preflight(ctx, base, "POST", ["authorization", "content-type"], origin),
    ]);
    if (pre) return reportOutcome(ctx, id, pre, "", FIX.cors2025);
    const c = await create2025(ctx, prefix, "", { origin });
    if (!c.ok) return void ctx.report(id, "skip", `not checked: ${c.summary} (see rendezvous-2025.create)`);
    const created = ctx.prober.answers.findLast((a) => a.method === "POST" && a.url === base)!;
    const url = c.session.url;
    const json = { accept: "application/json" };
    const p = await firstProblem([
      async () => answerProblem(created, "the POST's answer", origin),
      async () => answerProblem(await ctx.prober.request(url, { headers: { ...json, origin } }), "a GET's answer", origin),
      () => preflight(ctx, url, "PUT", ["content-type"], origin),
      async () => answerProblem(await ctx.prober.request(url, { method: "PUT", headers: { ...json, origin, "content-type": "application/json" }, body: JSON.stringify({ sequence_token: c.session.token, data: "cors" }) }), "a PUT's answer", origin),
      () => preflight(ctx, url, "DELETE", [], origin),
      async () => {
        const d = await ctx.prober.request(url, { method: "DELETE", headers: { ...json, origin } });
        if (d.status >= 200 && d.status < 300) ctx.sessions.deleted(url);
        return answerProblem(d, "a DELETE's answer", origin);
      },
    ]);
    reportOutcome(ctx, id, p, `from ${origin} at ${prefix.label}: the preflights for POST with Authorization and Content-Type, PUT and DELETE pass, and every answer allows the origin`, FIX.cors2025);
  } catch (err) {
    if (!(err instanceof ProbeError)) throw err;
    ctx.report(id, "fail", `a request failed: ${err.message}`, FIX.cors2025);
  }
}

