// S: the two digits to type on the other device, large.
import { copy } from "../copy.js";
import { h } from "../dom.js";
import { actions, cancelButton, heading, spinner } from "./parts.js";
import type { ScreenView } from "./view.js";

export const checkCode: ScreenView<"check_code"> = (s, ctx) => {
  const t = copy.checkCode;
  return {
    element: h(
      "section",
      {},
      heading(t.title),
      h("p", {}, t.body),
      h(
        "p",
        { class: "check-code", role: "img", "aria-label": t.label(s.code), "data-code": s.code },
        h("span", { "aria-hidden": "true" }, s.code[0]),
        h("span", { "aria-hidden": "true" }, s.code[1]),
      ),
      spinner(copy.waiting.otherDevice),
      actions(cancelButton(ctx)),
    ),
  };
};
