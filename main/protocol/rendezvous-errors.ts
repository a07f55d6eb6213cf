// Typed failures of the rendezvous transport: a ProtocolError with the HTTP status and Matrix
// errcode that caused it (when there was one), so callers can switch on `code` like everywhere else.
import { ProtocolError, type RENDEZVOUS_ERROR_CODES } from "./errors.js";

export type RendezvousErrorCode = (typeof RENDEZVOUS_ERROR_CODES)[number];

export class RendezvousError extends ProtocolError {
  declare readonly code: RendezvousErrorCode;
  readonly status: number | undefined;
  readonly errcode: string | undefined;

  constructor(code: RendezvousErrorCode, message: string, options?: { cause?: unknown; status?: number | undefined; errcode?: string | undefined }) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.status = options?.status;
    this.errcode = options?.errcode;
  }
}
