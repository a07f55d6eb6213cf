// Before the system's camera prompt: why the camera, and the other ways to scan.
import { copy } from "../copy.js";
import { button, h } from "../dom.js";
import { actions, heading } from "./parts.js";
import type { ScreenView } from "./view.js";

export const cameraPermission: ScreenView<"camera_permission"> = (_s, { send }) => {
  const t = copy.camera;
  return {
    element: h(
      "section",
      {},
      heading(t.title),
      h("p", {}, t.why),
      h("p", {}, t.next),
      actions(button(t.turnOn, () => send({ type: "scan_source", source: "camera" }), { primary: true }), button(t.otherWays, () => send({ type: "scan_source", source: null }))),
    ),
  };
};
