// The secrets step: the new device's import, step by step; the existing device sending.
import { SECRETS_STEPS } from "../../contract/flow.js";
import { copy } from "../copy.js";
import { h } from "../dom.js";
import { actions, cancelButton, heading, spinner } from "./parts.js";
import type { ScreenView } from "./view.js";

const MARKS = { pending: "○", active: "…", done: "✓", failed: "✗" } as const;

export const secrets: ScreenView<"secrets"> = (s, ctx) => {
  const t = copy.secrets;
  return {
    element: h(
      "section",
      {},
      heading(s.role === "new" ? t.titleNew : t.titleExisting),
      // The existing device only sends; the steps are the new device's, shown there.
      s.role === "existing" && SECRETS_STEPS.every((step) => s.steps[step] === "pending")
        ? spinner(t.sending)
        : h(
            "ol",
            { class: "progress", "aria-label": t.list },
            ...SECRETS_STEPS.map((step) =>
              h("li", { class: `step ${s.steps[step]}`, "data-step": step }, h("span", { class: "mark", "aria-hidden": "true" }, MARKS[s.steps[step]]), h("span", {}, t.step(step, s.steps[step]))),
            ),
          ),
      actions(cancelButton(ctx)),
    ),
  };
};
