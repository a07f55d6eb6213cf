// Before scanning: what to scan, and never a code someone sent you (it would sign them in).
import { copy } from "../copy.js";
import { button, h } from "../dom.js";
import { actions, cancelButton, heading, steps } from "./parts.js";
import type { ScreenView } from "./view.js";

export const prescanWarning: ScreenView<"prescan_warning"> = (s, ctx) => {
  const t = copy.prescan;
  return {
    element: h(
      "section",
      {},
      heading(t.title),
      steps(s.role === "existing" ? t.existingSteps : t.newSteps),
      h("p", { class: "warning", role: "note" }, h("strong", {}, t.warningLead), t.warning),
      actions(button(t.ready, () => ctx.send({ type: "scan_now", role: s.role }), { primary: true }), cancelButton(ctx)),
    ),
  };
};
