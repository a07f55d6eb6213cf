// Our part is done: waiting for the other device, or for the consent in the browser.
import { copy } from "../copy.js";
import { h } from "../dom.js";
import { actions, cancelButton, heading, spinner } from "./parts.js";
import type { ScreenView } from "./view.js";

export const waiting: ScreenView<"waiting"> = (s, ctx) => {
  const text = copy.waiting[s.what];
  return { element: h("section", {}, heading(text), spinner(text), actions(cancelButton(ctx))) };
};
