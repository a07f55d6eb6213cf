// The rendezvous conformance cases (rendezvous-cases.json beside this file, provenance in
// test/fixtures/README.md): one request each, with the answer its source expects. The file is data
// copied from Synapse's tests and servlets, the MSC4388 text and matrix-js-sdk; how each case is run
// (its setup, the rule it checks, where the MSC overrides Synapse) is in the case specs
// (specs-*.ts). esbuild bundles the JSON into dist/cli.js, so the command needs no file at run time.
import casesJson from "./rendezvous-cases.json" with { type: "json" };
import { RENDEZVOUS_PATH_STABLE, RENDEZVOUS_PATH_UNSTABLE } from "../protocol/profile.js";

export interface RendezvousCase {
  readonly name: string;
  readonly method: string;
  /** A path on the server; `{id}` and friends are placeholders (below). */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** null: no body; a string: the raw body; anything else: sent as JSON. */
  readonly body: unknown;
  readonly expect_status: number;
  readonly expect_errcode: string | null;
  readonly notes: string;
  readonly source: string;
}

// The JSON is data, not code: its inferred literal types say nothing a reader needs.
export const CASES: readonly RendezvousCase[] = casesJson as unknown as readonly RendezvousCase[];

export type ApiVersion = "2025" | "2024";

export const PREFIX_V1 = RENDEZVOUS_PATH_STABLE;
export const PREFIX_UNSTABLE = RENDEZVOUS_PATH_UNSTABLE;
/** The 2024 API's create endpoint (MSC4108 as shipped in 2024). */
export const PREFIX_2024 = "/_matrix/client/unstable/org.matrix.msc4108/rendezvous";
/** Where Synapse's 2024 sessions live; in the cases it stands for "the session URL the POST handed out". */
export const SYNAPSE_SESSION_PATH = "/_synapse/client/rendezvous/{id}";

/** The concurrent-write errcode of each 2025 prefix (MSC4388's unstable-prefix section). */
export const CONCURRENT_WRITE_ERRCODE: Readonly<Record<string, string>> = {
  [PREFIX_V1]: "M_CONCURRENT_WRITE",
  [PREFIX_UNSTABLE]: "IO_ELEMENT_MSC4388_CONCURRENT_WRITE",
};

export function apiOf(c: RendezvousCase): ApiVersion {
  return c.name.startsWith("msc4108.") ? "2024" : "2025";
}

/**
 * Whether a 2025 case runs on every 2025 prefix the server offers (its path is under the unstable
 * prefix as written) or once per run (it names another path, e.g. /versions or the stable prefix).
 */
export function runsPerPrefix(c: RendezvousCase): boolean {
  return apiOf(c) === "2025" && (c.path === PREFIX_UNSTABLE || c.path.startsWith(`${PREFIX_UNSTABLE}/`));
}

/** Whether the case's request is about a session made in its setup (it names one). */
export function needsSession(c: RendezvousCase): boolean {
  const text = c.path + JSON.stringify(c.body) + JSON.stringify(c.headers);
  return /\{(id|seq0|etag)\}/.test(text);
}

/**
 * Placeholders and repetitions of the file's conventions: `{id}`, `{seq0}`… from vars;
 * `"<'a' x 5000>"` is 5000 letters a, `"<U+00E9 x 2049>"` 2049 é.
 */
export function expand(value: unknown, vars: Readonly<Record<string, string>>): unknown {
  if (typeof value === "string") {
    const rep = /^<'(.)' x (\d+)>$/.exec(value) ?? /^<U\+([0-9A-F]{4,5}) x (\d+)>$/.exec(value);
    if (rep) {
      const ch = rep[1]!.length === 1 ? rep[1]! : String.fromCodePoint(parseInt(rep[1]!, 16));
      return ch.repeat(Number(rep[2]));
    }
    return value.replace(/\{(id|seq0|seq1|seq2|token|etag|etag2|session)\}/g, (_m, k: string) => vars[k] ?? `missing-${k}`);
  }
  if (Array.isArray(value)) return value.map((v) => expand(v, vars));
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expand(v, vars)]));
  return value;
}
