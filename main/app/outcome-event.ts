// How a flow's outcome reaches the renderer: the screen from the contract's SCREEN_ERROR of its failure
// code (one typed table, no matching on text), a detail line in our own words, and whether the screen
// offers "Check this server".
import { SCREEN_ERROR, failureCode, type FailedOutcome, type FlowOutcome } from "../../contract/failures.js";
import type { DeviceRole } from "../../contract/flow.js";
import type { FlowError } from "../../contract/schemas.js";
import type { ControllerEvent } from "./ipc.js";

/**
 * Whether the reason a sign-in ended may lie with the server (its configuration, its proxy), so the
 * error screen offers "Check this server": no support for it, the rendezvous unreachable, the session
 * expired before the other device arrived, a write refused as concurrent.
 */
function liesWithServer(o: FlowOutcome): boolean {
  switch (o.outcome) {
    case "not_supported":
      return o.reason !== "secrets_unavailable"; // that one is this account's keys
    case "expired":
      return true;
    case "insecure_channel":
      return o.concurrentWrite === true;
    case "error":
      return o.code === "network";
    default:
      return false;
  }
}

/** The error screen's detail line for an outcome: what happened, never a path or a server's answer. */
function detailOf(o: FailedOutcome): string {
  switch (o.outcome) {
    case "declined":
      return o.side === "local" ? "The sign-in was declined in the browser." : "The sign-in was declined on the other device.";
    case "failure":
      return `${o.side === "peer" ? "The other device reported" : "This device reported"}: ${o.reason}.`;
    case "expired":
      return "The sign-in session expired.";
    case "closed":
      return "The other device ended the session.";
    case "check_code_mismatch":
      return "The code entered does not match.";
    case "insecure_channel":
      return "The secure channel could not be verified.";
    case "qr_rejected":
      return o.reason === "invalid_qr" ? "This is not a sign-in QR code." : "";
    case "not_supported":
      return o.detail ?? o.reason;
    case "error":
      // Internal details (paths, server responses) stay in main; the code is enough to report a bug.
      return `Error code: ${o.code}`;
  }
}

/**
 * Map a flow outcome to the renderer's terms; null for a user cancel (nothing to show). The screen is
 * the contract's SCREEN_ERROR of the outcome's failure code: one typed table, no matching on text.
 */
export function outcomeToEvent(o: FlowOutcome, role: DeviceRole, fallbackUserId: string | null): ControllerEvent | null {
  if (o.outcome === "cancelled") return null;
  if (o.outcome === "success") {
    const userId = o.userId ?? fallbackUserId ?? "";
    // The existing device cannot see the new device's verification; it reports it as sent.
    return { type: "success", userId, deviceId: o.deviceId, verified: role === "new" ? o.crossSigned === true : false };
  }
  const error: FlowError = { code: SCREEN_ERROR[failureCode(o)], message: detailOf(o) };
  if (o.outcome === "failure") error.reason = o.reason;
  if (liesWithServer(o)) error.checkServer = true;
  return { type: "error", error };
}
