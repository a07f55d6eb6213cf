// Whether a server offers the MSC4108 2024 rendezvous: `GET /_matrix/client/versions` lists
// `org.matrix.msc4108` in `unstable_features` (Synapse: `msc4108_enabled` or
// `msc4108_delegation_endpoint`), as matrix-js-sdk's getPostEndpoint() checks before it POSTs.
import { RendezvousError } from "../protocol/rendezvous-errors.js";
import type { FetchLike } from "../protocol/rendezvous-http.js";
import { MSC4108_UNSTABLE_FEATURE } from "./secure-session.js";

export async function offersMsc4108(baseUrl: string, opts: { fetch?: FetchLike; signal?: AbortSignal; timeoutMs?: number } = {}): Promise<boolean> {
  const fetchImpl = opts.fetch ?? ((input, init) => fetch(input, init));
  const url = `${baseUrl.replace(/\/+$/, "")}/_matrix/client/versions`;
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? 10_000);
  let response: Response;
  let text: string;
  try {
    response = await fetchImpl(url, { method: "GET", headers: { accept: "application/json" }, signal: opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout });
    text = await response.text();
  } catch (err) {
    if (opts.signal?.aborted) throw new RendezvousError("cancelled", "cancelled", { cause: err });
    throw new RendezvousError("rendezvous_network", `GET ${url}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (response.status !== 200) return false;
  try {
    const body = JSON.parse(text) as { unstable_features?: Record<string, unknown> };
    return body.unstable_features?.[MSC4108_UNSTABLE_FEATURE] === true;
  } catch {
    return false;
  }
}
