// Which version a generator speaks, and on which rendezvous server: the one place that asks the
// servers (docs/architecture.md "The two versions"). A scanner never asks: the QR's bytes decide.
import { getProfile } from "../../protocol/profile.js";
import { RendezvousClient } from "../../protocol/rendezvous.js";
import type { FetchLike } from "../../protocol/rendezvous-http.js";
import { prefixesFor } from "../../protocol/rendezvous-prefix.js";
import { offersMsc4108 } from "../../protocol-2024/discovery.js";
import { translate } from "./errors.js";
import { ChannelError, type ProtocolChoice, type ProtocolVersion, type StartGeneratorOptions } from "../flows/ports.js";

/** Which version a generator speaks, and where: decided from what the servers offer (or forced). */
export interface VersionChoice {
  version: ProtocolVersion;
  baseUrl: string;
}

/**
 * `auto`: 2025 if the rendezvous server's discovery says `create_available: true`; else 2024 if it
 * advertises `org.matrix.msc4108` in `/versions`; else 2024 on the fallback server when one is
 * configured; else ChannelError("rendezvous_unavailable"). A forced version is taken as given (2024
 * falls back to the fallback server when the first one has no endpoint, see startGenerator).
 */
export async function selectVersion(
  opts: Pick<StartGeneratorOptions, "rendezvousUrl" | "fallbackRendezvousUrl" | "protocol" | "signal">,
  probe: { fetch?: FetchLike; accessToken?: string; profile?: string },
): Promise<VersionChoice> {
  const choice: ProtocolChoice = opts.protocol ?? "auto";
  if (choice === "2025") return { version: "2025", baseUrl: opts.rendezvousUrl };
  if (choice === "2024") return { version: "2024", baseUrl: opts.rendezvousUrl };
  const problems: string[] = [];
  // The first request error met; `failedSteps` counts the steps (of two) that got no answer at all.
  let networkFailure: unknown;
  let failedSteps = 0;
  try {
    const client = new RendezvousClient({
      baseUrl: opts.rendezvousUrl,
      prefixes: prefixesFor(getProfile(probe.profile)),
      ...(probe.fetch ? { fetch: probe.fetch } : {}),
      ...(probe.accessToken ? { accessToken: probe.accessToken } : {}),
      maxAttempts: 3,
    });
    const discovery = await client.discover(opts.signal);
    if (discovery.createAvailable) return { version: "2025", baseUrl: opts.rendezvousUrl };
    problems.push(discovery.available ? "its MSC4388 rendezvous does not let this device create sessions" : "no MSC4388 (2025) rendezvous");
  } catch (err) {
    if (opts.signal?.aborted) throw translate(err);
    networkFailure = err;
    failedSteps++;
    problems.push(`MSC4388 discovery failed (${err instanceof Error ? err.message : String(err)})`);
  }
  try {
    if (await offersMsc4108(opts.rendezvousUrl, { ...(probe.fetch ? { fetch: probe.fetch } : {}), ...(opts.signal ? { signal: opts.signal } : {}) })) {
      return { version: "2024", baseUrl: opts.rendezvousUrl };
    }
    problems.push("no org.matrix.msc4108 (2024) in /versions");
  } catch (err) {
    if (opts.signal?.aborted) throw translate(err);
    networkFailure ??= err;
    failedSteps++;
    problems.push(`/versions failed (${err instanceof Error ? err.message : String(err)})`);
  }
  if (opts.fallbackRendezvousUrl) return { version: "2024", baseUrl: opts.fallbackRendezvousUrl };
  if (failedSteps === 2) {
    throw new ChannelError("network", `cannot reach ${opts.rendezvousUrl}: ${problems.join("; ")}`, { cause: networkFailure });
  }
  throw new ChannelError("rendezvous_unavailable", `your homeserver doesn't support sign in with QR: ${opts.rendezvousUrl} has ${problems.join(", ")}`);
}
