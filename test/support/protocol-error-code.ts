import { ProtocolError } from "../../main/protocol/errors.js";

/** The `code` of the ProtocolError that `fn` throws; any other outcome fails the test. */
export function protocolErrorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ProtocolError) return e.code;
    throw e;
  }
  throw new Error("did not throw");
}
