// "Check this server" in the app: the same deployment checks as `qr-login doctor` (main/doctor), run in
// the main process against the server a failed sign-in used, with progress for the renderer. Nothing
// secret is involved: the checks run without an access token, as any client on the internet would.
import type { ServerCheckEvent } from "../../contract/schemas.js";

export async function runServerCheck(target: string, emit: (e: ServerCheckEvent) => void, signal: AbortSignal): Promise<void> {
  // Loaded on first use: most runs of the app never check a server.
  const { runDoctor, TargetError } = await import("../doctor/index.js");
  try {
    const report = await runDoctor(target, {
      signal,
      onEvent: (e) => {
        if (e.type === "plan") emit({ type: "plan", target: e.target, checks: e.checks.map((c) => ({ id: c.id, title: c.title })) });
        else if (e.type === "running") emit({ type: "running", id: e.id, detail: e.detail });
        else emit({ type: "result", check: { ...e.check } });
      },
    });
    if (!signal.aborted) emit({ type: "done", ok: report.ok, verdict: report.verdict.map((v) => ({ ...v })) });
  } catch (err) {
    emit({ type: "failed", message: err instanceof TargetError ? err.message : "The check could not be completed." });
  }
}
