// The "Check this server" screen: one row per check with its status in words (never colour alone),
// what was seen, and the fix for the server's administrator; then which clients can sign in.
import { h } from "./dom.js";
import { STATE_LABELS, VERDICT_LABELS, type CheckRow, type ServerCheckScreen } from "./server-check-model.js";

function row(r: CheckRow): HTMLLIElement {
  return h(
    "li",
    { class: `server-check state-${r.state}`, "data-check": r.id, "data-status": r.state },
    h("span", { class: "check-state" }, STATE_LABELS[r.state]),
    h("span", { class: "check-title" }, r.title),
    r.summary ? h("p", { class: "check-summary" }, r.summary) : null,
    r.fix ? h("p", { class: "check-fix" }, h("strong", {}, "Fix: "), r.fix) : null,
  );
}

export function serverCheckView(s: ServerCheckScreen, parts: { heading(text: string): HTMLElement; spinner(text: string): HTMLElement; back(): void; retry(): void; button(label: string, onClick: () => void, opts?: { primary?: boolean }): HTMLButtonElement }): HTMLElement {
  const problems = s.rows.filter((r) => r.state === "fail").length;
  const warnings = s.rows.filter((r) => r.state === "warn").length;
  const outcome = !s.done
    ? parts.spinner(s.current ? `Checking: ${s.current}` : "Starting the checks…")
    : s.failed
      ? h("p", { class: "warning", role: "alert" }, s.failed)
      : h("p", { class: problems ? "warning" : "help", "data-outcome": problems ? "problems" : "ok" },
        problems ? `${problems} ${problems === 1 ? "problem" : "problems"} found${warnings ? `, and ${warnings} ${warnings === 1 ? "warning" : "warnings"}` : ""}. Each says what was seen and what the server's administrator can change.`
          : `No problems found${warnings ? ` (${warnings} ${warnings === 1 ? "warning" : "warnings"})` : ""}. If signing in still fails, try again: it may have been a network problem.`);
  return h(
    "section",
    { class: "server-check-screen" },
    parts.heading(s.done ? "Server check" : "Checking the server"),
    h("p", {}, "qr-login asks ", h("strong", {}, s.target ?? "the server"), " everything sign in with a QR code needs from it, as Element and other apps would. Nothing is signed in or changed; this takes up to half a minute."),
    outcome,
    s.rows.length ? h("ul", { class: "server-checks", "aria-label": "Checks" }, ...s.rows.map(row)) : null,
    s.verdict.length
      ? h("section", { "aria-labelledby": "verdict-heading" }, h("h2", { id: "verdict-heading" }, "Who can sign in with this server"),
        h("ul", { class: "verdict" }, ...s.verdict.map((v) => h("li", { class: `server-check state-${v.status}`, "data-status": v.status }, h("span", { class: "check-state" }, VERDICT_LABELS[v.status]), h("strong", {}, `${v.clients}: `), v.summary))))
      : null,
    h("div", { class: "actions" }, parts.button("Try again", () => parts.retry(), { primary: true }), parts.button("Back", () => parts.back())),
  );
}
