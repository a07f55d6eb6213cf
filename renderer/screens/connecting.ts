// The secure channel is being set up.
import { copy } from "../copy.js";
import { h } from "../dom.js";
import { actions, cancelButton, heading, spinner } from "./parts.js";
import type { ScreenView } from "./view.js";

export const connecting: ScreenView<"connecting"> = (_s, ctx) => ({
  element: h("section", {}, heading(copy.connecting.title), spinner(copy.connecting.waiting), actions(cancelButton(ctx))),
});
