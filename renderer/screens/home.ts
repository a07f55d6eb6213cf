// The app's own account: who is signed in, how it is kept; link a new device or sign out.
import { copy } from "../copy.js";
import { button, h } from "../dom.js";
import { accountRows, actions, heading, storageNote, unverifiedRow } from "./parts.js";
import type { ScreenView } from "./view.js";

export const home: ScreenView<"home"> = (s, { state, send }) => ({
  element: h(
    "section",
    {},
    heading(copy.home.title),
    h("dl", {}, ...accountRows(s.account), ...unverifiedRow(s.account)),
    s.account.verified === false ? null : storageNote(state.storage), // an unverified device is never saved
    actions(button(copy.action.linkDevice, () => send({ type: "link_device" }), { primary: true }), button(copy.action.signOut, () => send({ type: "sign_out" }))),
  ),
});
