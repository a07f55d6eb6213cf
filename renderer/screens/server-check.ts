// The "Check this server" screen: one row per check with its status in words (never colour alone),
// what was seen, and the fix for the server's administrator; then which clients can sign in.
import { copy } from "../copy.js";
import { button, h } from "../dom.js";
import type { CheckRow } from "../server-check-model.js";
import { heading, spinner } from "./parts.js";
import type { ScreenView } from "./view.js";

function row(r: CheckRow): HTMLLIElement {
  return h(
    "li",
    { class: `server-check state-${r.state}`, "data-check": r.id, "data-status": r.state },
    h("span", { class: "check-state" }, copy.serverCheck.rowState[r.state]),
    h("span", { class: "check-title" }, r.title),
    r.summary ? h("p", { class: "check-summary" }, r.summary) : null,
    r.fix ? h("p", { class: "check-fix" }, h("strong", {}, copy.serverCheck.fix), r.fix) : null,
  );
}

export const serverCheck: ScreenView<"server_check"> = (s, { send }) => {
  const t = copy.serverCheck;
  const problems = s.rows.filter((r) => r.state === "fail").length;
  const warnings = s.rows.filter((r) => r.state === "warn").length;
  const outcome = !s.done
    ? spinner(s.current ? t.checking(s.current) : t.starting)
    : s.failed
      ? h("p", { class: "warning", role: "alert" }, s.failed)
      : h("p", { class: problems ? "warning" : "help", "data-outcome": problems ? "problems" : "ok" }, problems ? t.problems(problems, warnings) : t.noProblems(warnings));
  return {
    element: h(
      "section",
      { class: "server-check-screen" },
      heading(s.done ? t.titleDone : t.titleRunning),
      h("p", {}, t.introBefore, h("strong", {}, s.target ?? t.theServer), t.introAfter),
      outcome,
      s.rows.length ? h("ul", { class: "server-checks", "aria-label": t.checksLabel }, ...s.rows.map(row)) : null,
      s.verdict.length
        ? h(
            "section",
            { "aria-labelledby": "verdict-heading" },
            h("h2", { id: "verdict-heading" }, t.verdictTitle),
            h(
              "ul",
              { class: "verdict" },
              ...s.verdict.map((v) => h("li", { class: `server-check state-${v.status}`, "data-status": v.status }, h("span", { class: "check-state" }, t.verdict[v.status]), h("strong", {}, `${v.clients}: `), v.summary)),
            ),
          )
        : null,
      h(
        "div",
        { class: "actions" },
        button(copy.action.tryAgain, () => send({ type: "retry" }), { primary: true, id: "server-check-try-again" }),
        button(copy.action.back, () => send({ type: "leave_server_check" }), { id: "server-check-back" }),
      ),
    ),
  };
};
