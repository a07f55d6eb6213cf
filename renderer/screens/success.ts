// Signed in (new device), or the new device linked (existing device); the version it used.
import { copy } from "../copy.js";
import { button, h } from "../dom.js";
import { actions, heading } from "./parts.js";
import type { ScreenView } from "./view.js";

export const success: ScreenView<"success"> = (s, { state, send }) => {
  const t = copy.success;
  const existing = s.role === "existing";
  // Which version a sign-in used (in `auto`, a network attacker could force the 2024 one).
  const version = state.protocol ? [h("dt", {}, copy.field.version), h("dd", { "data-field": "protocol", "data-protocol": state.protocol }, copy.protocolName(state.protocol))] : [];
  return {
    element: h(
      "section",
      {},
      heading(existing ? t.titleExisting : s.verified ? t.titleVerified : t.titleUnverified),
      h(
        "dl",
        {},
        h("dt", {}, copy.field.account),
        h("dd", { "data-field": "user" }, s.userId),
        h("dt", {}, copy.field.deviceId),
        h("dd", { "data-field": "device" }, s.deviceId),
        h("dt", {}, copy.field.verification),
        h("dd", { "data-field": "verified" }, s.verified ? t.verified : existing ? t.keysSent : t.notVerified),
        ...version,
      ),
      h("p", {}, existing ? t.bodyExisting : s.verified ? t.bodyVerified : t.bodyUnverified),
      actions(button(copy.action.done, () => send({ type: "reset" }), { primary: true })),
    ),
  };
};
