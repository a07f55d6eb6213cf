// Starting, or making the QR code: a spinner and Cancel.
import { copy } from "../copy.js";
import { h } from "../dom.js";
import { actions, cancelButton, heading, spinner } from "./parts.js";
import type { ScreenView } from "./view.js";

export const loading: ScreenView<"loading"> = (s, ctx) => {
  const text = copy.loading[s.what];
  return { element: h("section", {}, heading(text), spinner(text), actions(cancelButton(ctx))) };
};
