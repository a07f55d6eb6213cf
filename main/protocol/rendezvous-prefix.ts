// Which API prefix a rendezvous server serves (docs/protocol.md "The rendezvous transport"): the wire
// profile's own first, the other as fallback. A 404 M_UNRECOGNIZED (or a non-Matrix 404, or a 405)
// means "not served here, try the next"; the first prefix that answers anything else is kept for the
// client's life. None answering: `rendezvous_unavailable`.
import { RENDEZVOUS_PATH_STABLE, RENDEZVOUS_PATH_UNSTABLE, type WireProfile } from "./profile.js";
import { RendezvousError } from "./rendezvous-errors.js";
import { errcodeOf, type HttpResult } from "./rendezvous-http.js";

/** The profile decides which API prefix is tried first; the other one is the fallback. */
export function prefixesFor(profile: WireProfile): string[] {
  const first = profile.rendezvousPath;
  return [first, ...[RENDEZVOUS_PATH_UNSTABLE, RENDEZVOUS_PATH_STABLE].filter((p) => p !== first)];
}

function isUnrecognizedPath(r: HttpResult): boolean {
  if (r.status === 405) return true;
  if (r.status !== 404) return false;
  const code = errcodeOf(r);
  return code === undefined || code === "M_UNRECOGNIZED";
}

/** The prefixes to try, and the one that answered once one has. */
export class PrefixNegotiation {
  private confirmedPrefix: string | undefined;

  constructor(
    /** In order of preference. */
    readonly prefixes: readonly string[],
    /** Where, for the error when none answers. */
    private readonly baseUrl: string,
  ) {}

  /** The prefix that answered, once one has. */
  get confirmed(): string | undefined {
    return this.confirmedPrefix;
  }

  /** Send on the confirmed prefix, or find it by trying each in turn. */
  async send(send: (prefix: string) => Promise<HttpResult>): Promise<{ result: HttpResult; prefix: string }> {
    const candidates = this.confirmedPrefix ? [this.confirmedPrefix] : this.prefixes;
    let last: HttpResult | undefined;
    for (const prefix of candidates) {
      const result = await send(prefix);
      if (!this.confirmedPrefix && isUnrecognizedPath(result)) {
        last = result;
        continue;
      }
      this.confirmedPrefix ??= prefix;
      return { result, prefix };
    }
    throw new RendezvousError(
      "rendezvous_unavailable",
      `the rendezvous API is not served at ${this.baseUrl} (tried ${candidates.join(", ")})`,
      { status: last?.status, errcode: last ? errcodeOf(last) : undefined },
    );
  }
}
