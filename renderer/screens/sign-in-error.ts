// Why signing this app in to its account failed.
import { copy } from "../copy.js";
import { button } from "../dom.js";
import { actions, errorScreen } from "./parts.js";
import type { ScreenView } from "./view.js";

export const signInError: ScreenView<"sign_in_error"> = (s, { send }) => ({
  element: errorScreen(
    copy.signInErrors[s.code],
    [],
    { message: s.message },
    actions(button(copy.action.tryAgain, () => send({ type: "want_sign_in" }), { primary: true }), button(copy.action.cancel, () => send({ type: "reset" }))),
  ),
});
