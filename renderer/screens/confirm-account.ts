// New device: "Is this your account?" before it continues (MSC4108's mitigation against being signed in
// to an attacker's account by shoulder-surfing).
import { copy } from "../copy.js";
import { button, h } from "../dom.js";
import { actions, heading } from "./parts.js";
import type { ScreenView } from "./view.js";

export const confirmAccount: ScreenView<"confirm_account"> = (s, { send }) => {
  const t = copy.confirmAccount;
  return {
    element: h(
      "section",
      {},
      heading(t.title),
      h(
        "dl",
        {},
        h("dt", {}, copy.field.account),
        h("dd", {}, s.userId),
        h("dt", {}, copy.field.homeserver),
        h("dd", {}, s.homeserver),
        s.deviceId ? h("dt", {}, copy.field.newDeviceId) : null,
        s.deviceId ? h("dd", {}, s.deviceId) : null,
      ),
      actions(button(t.yes, () => send({ type: "account_confirmed", accept: true }), { primary: true }), button(t.no, () => send({ type: "account_confirmed", accept: false }))),
    ),
  };
};
