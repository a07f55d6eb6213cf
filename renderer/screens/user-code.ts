// New device: the OAuth user code the consent page may ask for.
import { copy } from "../copy.js";
import { h } from "../dom.js";
import { actions, cancelButton, heading, spinner } from "./parts.js";
import type { ScreenView } from "./view.js";

export const userCode: ScreenView<"user_code"> = (s, ctx) => {
  const t = copy.userCode;
  return {
    element: h(
      "section",
      {},
      heading(t.title),
      h("p", { id: "user-code-help" }, t.help),
      h("p", { class: "user-code-row" }, h("span", { id: "user-code-label", class: "label" }, t.label), h("output", { class: "user-code", "aria-labelledby": "user-code-label", "aria-describedby": "user-code-help" }, s.userCode)),
      spinner(copy.waiting.otherDevice),
      actions(cancelButton(ctx)),
    ),
  };
};
