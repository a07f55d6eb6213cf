// First run of the installed app: sign in with a QR code, or to the account in the browser.
import { copy } from "../copy.js";
import { h } from "../dom.js";
import { choiceButton, heading, storageNote } from "./parts.js";
import type { ScreenView } from "./view.js";

export const welcome: ScreenView<"welcome"> = (_s, { state, send }) => {
  const t = copy.welcome;
  return {
    element: h(
      "section",
      {},
      heading(t.title),
      h("p", {}, t.question),
      h(
        "div",
        { class: "choices" },
        choiceButton(t.withQr.label, t.withQr.description, () => send({ type: "choose_role", role: "new" })),
        choiceButton(t.toAccount.label, t.toAccount.description, () => send({ type: "want_sign_in" })),
      ),
      state.storage === "keychain" ? null : storageNote(state.storage),
    ),
  };
};
