// Why a sign-in ended: the screen of the error's code (contract/failures.ts), worded by copy.ts.
import { copy } from "../copy.js";
import { button, h } from "../dom.js";
import { actions, cancelButton, heading } from "./parts.js";
import type { ScreenView } from "./view.js";

export const error: ScreenView<"error"> = (s, ctx) => {
  const t = copy.errors[s.error.code];
  const { message, reason } = s.error;
  return {
    element: h(
      "section",
      { class: "error-screen" },
      heading(t.title),
      h("p", { role: "alert" }, t.body),
      t.list ? h("ul", {}, ...t.list.map((x) => h("li", {}, x))) : null,
      message && message !== t.body ? h("p", { class: "detail" }, copy.details(message, reason)) : null,
      actions(
        button(copy.action.tryAgain, () => ctx.send({ type: "retry" }), { primary: true }),
        s.error.checkServer ? button(copy.action.checkServer, () => ctx.send({ type: "check_server" }), { id: "check-server" }) : null,
        cancelButton(ctx),
      ),
    ),
  };
};
