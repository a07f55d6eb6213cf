// Why a sign-in ended: the screen of the error's code (contract/failures.ts), worded by copy.ts.
import { copy } from "../copy.js";
import { button, h } from "../dom.js";
import { actions, cancelButton, errorScreen } from "./parts.js";
import type { ScreenView } from "./view.js";

export const error: ScreenView<"error"> = (s, ctx) => {
  const t = copy.errors[s.error.code];
  const { message, reason } = s.error;
  return {
    element: errorScreen(
      t,
      [t.list ? h("ul", {}, ...t.list.map((x) => h("li", {}, x))) : null],
      reason !== undefined ? { message, reason } : { message },
      actions(
        button(copy.action.tryAgain, () => ctx.send({ type: "retry" }), { primary: true }),
        s.error.checkServer ? button(copy.action.checkServer, () => ctx.send({ type: "check_server" }), { id: "check-server" }) : null,
        cancelButton(ctx),
      ),
    ),
  };
};
