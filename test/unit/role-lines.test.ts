// `npm run faults -- --processes` arms its faults (the restart's moment) on the flow events the CLI roles
// print on stderr; these lines must read back as the events they were printed from, or a rig waits for a
// moment that never comes.
import { describe, expect, test } from "@jest/globals";
import { describeEvent } from "../../main/cli/role-io.js";
import { eventOfLine, STAGES } from "../support/role-lines.js";

describe("a CLI role's stderr line, read back as its flow event", () => {
  test("every state line, as describeEvent prints it", () => {
    for (const state of STAGES) expect(eventOfLine(describeEvent({ type: "state", state })!)).toEqual({ type: "state", state });
  });

  test("the check code line", () => {
    expect(eventOfLine("check code: 07  (enter it on the new device)")).toEqual({ type: "check_code", code: "07" });
  });

  test("other progress lines are no state, even where their words start like one", () => {
    for (const e of [{ type: "waiting_for_consent" }, { type: "check_code_required" }, { type: "importing" }, { type: "transferring_secrets" }] as const) {
      expect(eventOfLine(describeEvent(e)!)).toBeUndefined();
    }
    expect(eventOfLine("… restoring the session")).toBeUndefined();
    expect(eventOfLine("QR: 4d41545249580203")).toBeUndefined();
  });
});
