// "Sign in to your account" while it runs: contacting the homeserver, the browser, finishing.
import { copy } from "../copy.js";
import { button, h } from "../dom.js";
import { actions, heading, spinner } from "./parts.js";
import type { ScreenView } from "./view.js";

export const signInProgress: ScreenView<"sign_in_progress"> = (s, { send }) => {
  const t = copy.signInProgress;
  const inBrowser = s.state === "waiting_for_browser";
  return {
    element: h(
      "section",
      {},
      heading(copy.signInStates[s.state]),
      inBrowser ? h("p", {}, s.opened ? t.opened : t.opening) : null,
      s.url && inBrowser
        ? h(
            "details",
            {},
            h("summary", {}, t.notOpened),
            h("p", {}, t.openYourself),
            h("p", { class: "uri" }, h("span", { id: "uri-label" }, copy.field.address), h("code", { "aria-labelledby": "uri-label" }, s.url)),
          )
        : null,
      spinner(inBrowser ? t.waiting : copy.signInStates[s.state]),
      actions(
        s.url && inBrowser ? button(copy.action.openBrowserAgain, () => send({ type: "open_sign_in_page" }), { primary: true }) : null,
        button(copy.action.cancel, () => send({ type: "cancel_sign_in" })),
      ),
    ),
  };
};
