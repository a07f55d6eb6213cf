// Which side of the channel this device plays: show the QR, or scan the other device's.
import type { ChannelSide } from "../../contract/flow.js";
import { copy } from "../copy.js";
import { button, h } from "../dom.js";
import { heading } from "./parts.js";
import type { ScreenView } from "./view.js";

export const chooseSide: ScreenView<"choose_side"> = (s, { state, send }) => {
  const pick = (side: ChannelSide) => () => send({ type: "side_chosen", role: s.role, side });
  const back = state.fixedRole === s.role ? null : button(copy.action.back, () => send({ type: "reset" }));
  if (s.role === "existing") {
    const t = copy.chooseSide.existing;
    return {
      element: h(
        "section",
        {},
        heading(t.title),
        h("p", {}, t.question),
        h("div", { class: "choices" }, button(t.scan, pick("scan"), { primary: true }), button(t.show, pick("show"), { primary: true })),
        back,
      ),
    };
  }
  const t = copy.chooseSide.new;
  return {
    element: h(
      "section",
      {},
      heading(t.title),
      h("p", {}, t.note),
      h("div", { class: "choices" }, button(t.show, pick("show"), { primary: true }), button(t.scan, pick("scan"), { primary: true })),
      back,
    ),
  };
};
