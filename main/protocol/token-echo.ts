// qr-login's token echo, an extension of MSC4388 between two qr-login devices (docs/protocol.md "Lost
// answers"). The sequence-token rule opens each message with the token our own previous write got back.
// When that write's answer is lost and the other device answers it before our retry (it reads and
// answers within milliseconds), the token is gone from the server for good and the answer cannot be
// opened. With the echo, every sealed payload carries, after a ".", the token it was sealed with (its
// AAD token, which is public: anyone holding the session id reads it with a GET), so a side that lost
// its own write's token opens the answer with the echoed one. The AEAD still checks it: a wrong echo
// does not open.
//
// Negotiation, invisible to other implementations: a qr-login generator creates the session with
// TOKEN_ECHO_OFFER as the initial payload (MSC4388 lets it be any string; the scanners of matrix-rust-sdk
// ignore it), and a qr-login scanner that reads the offer echoes from its LoginInitiate on; the
// generator echoes once it has seen an echoed LoginInitiate. Standard base64 has no ".", so a payload
// splits unambiguously.

/** The initial payload by which a qr-login generator offers the echo. */
export const TOKEN_ECHO_OFFER = "io.github.qr_login.token_echo";

/** MSC4388: a rendezvous payload is at most 4096 bytes. An echo that would not fit is left off. */
const MAX_PAYLOAD_BYTES = 4096;
const SEPARATOR = ".";

/** `sealed` with its AAD token appended, when that fits the payload limit (tokens are ASCII). */
export function withEcho(sealed: string, token: string): string {
  const echoed = `${sealed}${SEPARATOR}${token}`;
  return echoed.length <= MAX_PAYLOAD_BYTES ? echoed : sealed;
}

/** A payload of an echoing peer: the sealed message and the token it was sealed with (absent if left off). */
export function splitEcho(data: string): { sealed: string; echoed?: string } {
  const at = data.indexOf(SEPARATOR);
  return at < 0 ? { sealed: data } : { sealed: data.slice(0, at), echoed: data.slice(at + 1) };
}
