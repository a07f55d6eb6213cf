// Existing device: the consent page is (being) opened in the system browser; open it again from here.
import { copy } from "../copy.js";
import { button, h } from "../dom.js";
import { actions, cancelButton, heading, spinner } from "./parts.js";
import type { ScreenView } from "./view.js";

export const openBrowser: ScreenView<"open_browser"> = (s, ctx) => {
  const t = copy.openBrowser;
  return {
    element: h(
      "section",
      {},
      heading(t.title),
      h("p", {}, s.opened ? t.opened : t.opening),
      h("p", {}, t.fallback),
      h("p", { class: "uri" }, h("span", { id: "uri-label" }, copy.field.address), h("code", { "aria-labelledby": "uri-label" }, s.verificationUri)),
      s.consentPending ? spinner(copy.waiting.consent) : null,
      actions(button(s.opened ? copy.action.openBrowserAgain : copy.action.openBrowser, () => ctx.send({ type: "open_verification_uri" }), { primary: true }), cancelButton(ctx)),
    ),
  };
};
