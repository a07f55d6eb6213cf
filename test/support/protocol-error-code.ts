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

/** The ProtocolError that `p` rejects with; resolving, or rejecting with anything else, fails the test. */
export async function protocolRejection(p: Promise<unknown>): Promise<ProtocolError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    return err as ProtocolError;
  }
  throw new Error("expected a rejection");
}
