// The renderer's view of the version: a protocol event sets the details line, a new flow clears it,
// and the check-code field accepts what can match in that version (2024 digits may start with 0).
import { describe, expect, test } from "@jest/globals";
import { copy } from "../../renderer/copy.js";
import { initialState, isPlausibleCheckCode, reduce } from "../../renderer/view-model.js";

describe("protocol version in the view", () => {
  test("a protocol event sets it, without changing the screen; choosing a side again clears it", () => {
    let s = initialState("new", "show");
    s = reduce(s, { type: "started", flowId: 3 });
    const screen = s.screen;
    s = reduce(s, { type: "event", event: { type: "protocol", flowId: 3, version: "2024" } });
    expect(s.protocol).toBe("2024");
    expect(s.screen).toBe(screen);
    // An event of another (older) flow is ignored.
    expect(reduce(s, { type: "event", event: { type: "protocol", flowId: 2, version: "2025" } }).protocol).toBe("2024");
    expect(reduce(reduce(s, { type: "reset" }), { type: "choose_side", side: "show" }).protocol).toBeNull();
  });

  test("details line names the version", () => {
    expect(copy.protocolDetail("2024")).toMatch(/MSC4108 2024/);
    expect(copy.protocolDetail("2025")).toMatch(/MSC4108 2025/);
  });

  test("check codes: 10..99 for 2025 (and before the version is known), 00..99 for 2024", () => {
    expect(isPlausibleCheckCode("07", "2024")).toBe(true);
    expect(isPlausibleCheckCode("07", "2025")).toBe(false);
    expect(isPlausibleCheckCode("07", null)).toBe(false);
    expect(isPlausibleCheckCode("42", "2025")).toBe(true);
    expect(isPlausibleCheckCode("4", "2024")).toBe(false);
    expect(isPlausibleCheckCode("x1", "2024")).toBe(false);
  });
});
