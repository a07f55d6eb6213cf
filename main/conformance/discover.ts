// From the URL a person gives to the APIs the cases run on. The URL is a base URL, the same as a
// homeserver's (`https://matrix.example.org`) or a standalone rendezvous server's
// (`http://127.0.0.1:8090`), under which the prefixes are looked for: the 2025 API at
// /_matrix/client/v1/rendezvous and /_matrix/client/unstable/io.element.msc4388/rendezvous (each
// where its discovery answers create_available: true), the 2024 API where a POST to
// /_matrix/client/unstable/org.matrix.msc4108/rendezvous creates a session, following a 307/308 as
// matrix-js-sdk does (Synapse's msc4108_delegation_endpoint). A URL that ends in one of those
// prefixes names that API alone.
import type { ApiVersion } from "./cases.js";
import { PREFIX_2024, PREFIX_UNSTABLE, PREFIX_V1 } from "./cases.js";
import type { HttpClient } from "./http.js";
import { NetworkError } from "./http.js";
import type { Endpoint, Target } from "./runner.js";

export type ApiChoice = ApiVersion | "all";

/** The URL or the --api choice cannot be used (a usage error). */
export class TargetInputError extends Error {
  override readonly name = "TargetInputError";
}

/** The server cannot be tested: unreachable, or no rendezvous API where one was looked for. */
export class TargetError extends Error {
  override readonly name = "TargetError";
}

const PREFIXES: readonly { prefix: string; api: ApiVersion }[] = [
  { prefix: PREFIX_V1, api: "2025" },
  { prefix: PREFIX_UNSTABLE, api: "2025" },
  { prefix: PREFIX_2024, api: "2024" },
];

export interface ParsedTarget {
  readonly base: string;
  /** The prefixes to look for, in report order. */
  readonly prefixes: readonly { prefix: string; api: ApiVersion }[];
  /** Whether the person named them (an --api or a prefix in the URL): then a missing one is an error. */
  readonly named: boolean;
}

export function parseTarget(input: string, api: ApiChoice): ParsedTarget {
  let url: URL;
  try { url = new URL(input); } catch { throw new TargetInputError(`"${input}" is not a URL; give the server's base URL, e.g. https://matrix.example.org`); }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new TargetInputError(`"${input}" is not an http(s) URL`);
  if (url.search || url.hash) throw new TargetInputError(`"${input}": a base URL has no query or fragment`);
  let path = url.pathname.replace(/\/+$/, "");
  let prefixes = PREFIXES.filter((p) => api === "all" || p.api === api);
  const inUrl = PREFIXES.find((p) => path.endsWith(p.prefix));
  if (inUrl) {
    if (api !== "all" && inUrl.api !== api) throw new TargetInputError(`"${input}" names the ${inUrl.api} API, but --api asks for ${api}`);
    path = path.slice(0, -inUrl.prefix.length);
    prefixes = [inUrl];
  }
  return { base: url.origin + path, prefixes, named: api !== "all" || inUrl !== undefined };
}

export interface Discovery extends Target {
  /** What was seen at each prefix that is not run, in words. */
  readonly notes: readonly string[];
}

function said(status: number, json: Record<string, unknown> | null, contentType: string | null): string {
  if (json && typeof json.errcode === "string") return `${status} ${json.errcode}`;
  return `${status}${contentType ? ` (${contentType.split(";")[0]})` : ""}`;
}

async function find2025(http: HttpClient, base: string, prefix: string): Promise<Endpoint | string> {
  const url = base + prefix;
  const r = await http.request("GET", url);
  if (r.status === 200 && r.json?.create_available === true) return { api: "2025", prefix, url };
  if (r.status === 404 || r.status === 405) return `${prefix}: not served (${said(r.status, r.json, r.headers.get("content-type"))})`;
  if (r.status === 200 && r.json?.create_available === false || r.status === 401 || r.status === 403) {
    return `${prefix}: served, but this server does not let an anonymous client create sessions (${r.status === 200 ? "create_available: false" : said(r.status, r.json, null)}); the cases need one in open mode`;
  }
  return `${prefix}: discovery answered ${said(r.status, r.json, r.headers.get("content-type"))}, not {"create_available": true}`;
}

async function find2024(http: HttpClient, base: string): Promise<Endpoint | string> {
  const probe = (url: string) => http.request("POST", url, { "Content-Type": "text/plain" }, "qr-login conformance probe");
  let url = base + PREFIX_2024;
  let r = await probe(url);
  let via = "";
  if (r.status === 307 || r.status === 308) {
    const location = r.headers.get("location");
    if (!location) return `${PREFIX_2024}: a ${r.status} redirect without Location`;
    url = new URL(location, url).href;
    via = ` (delegated to ${url})`;
    r = await probe(url);
  }
  if (r.status === 201 && typeof r.json?.url === "string") {
    await http.request("DELETE", r.json.url).catch(() => undefined);
    return { api: "2024", prefix: PREFIX_2024, url };
  }
  if (r.status === 404 || r.status === 405) return `${PREFIX_2024}: not served${via} (${said(r.status, r.json, r.headers.get("content-type"))})`;
  return `${PREFIX_2024}: creating a session${via} answered ${said(r.status, r.json, r.headers.get("content-type"))}, not 201 {"url": …}`;
}

/**
 * Looks for the APIs. Throws TargetError when the server does not answer, or when nothing (or not
 * what was named) is there; the message says what each prefix answered.
 */
export async function discover(http: HttpClient, parsed: ParsedTarget): Promise<Discovery> {
  const endpoints: Endpoint[] = [];
  const notes: string[] = [];
  try {
    for (const { prefix, api } of parsed.prefixes) {
      const found = api === "2024" ? await find2024(http, parsed.base) : await find2025(http, parsed.base, prefix);
      if (typeof found === "string") notes.push(found);
      else endpoints.push(found);
    }
  } catch (err) {
    if (err instanceof NetworkError) throw new TargetError(`cannot reach ${parsed.base}: ${err.reason}`);
    throw err;
  }
  const wanted = parsed.named ? [...new Set(parsed.prefixes.map((p) => p.api))] : [];
  const absent = wanted.filter((api) => !endpoints.some((e) => e.api === api));
  if (endpoints.length === 0 || absent.length > 0) {
    const what = absent.length > 0 ? `no ${absent.join(" or ")} API` : "no rendezvous API";
    throw new TargetError(`${what} to test at ${parsed.base}:\n  ${notes.join("\n  ")}`);
  }
  return { base: parsed.base, endpoints, notes };
}
