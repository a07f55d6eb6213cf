// This app is signed in to its account and its keys are unlocked.
import { copy } from "../copy.js";
import { button, h } from "../dom.js";
import { accountRows, actions, heading, storageNote } from "./parts.js";
import type { ScreenView } from "./view.js";

export const signedIn: ScreenView<"signed_in"> = (s, { state, send }) => ({
  element: h(
    "section",
    {},
    heading(copy.signedIn.title),
    h("dl", {}, ...accountRows(s.account)),
    h("p", {}, copy.signedIn.body),
    storageNote(state.storage),
    actions(button(copy.action.linkDevice, () => send({ type: "link_device" }), { primary: true }), button(copy.action.done, () => send({ type: "reset" }))),
  ),
});
