// What `qr-login doctor` was given: a homeserver URL (checked as is) or a Matrix server name (resolved
// as clients resolve it, through main/login/matrix/homeserver.ts: .well-known, then the name itself).

export type Target =
  | { readonly kind: "url"; readonly input: string; readonly baseUrl: string }
  | { readonly kind: "server_name"; readonly input: string; readonly serverName: string };

/** The argument is neither a usable URL nor a server name (the CLI exits 2). */
export class TargetError extends Error {
  override readonly name = "TargetError";
}

// Matrix spec "Server names": hostname (IPv4, [IPv6] or DNS name) with an optional port.
const SERVER_NAME = /^(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)(?::(\d{1,5}))?$/;

export function parseTarget(raw: string): Target {
  const input = raw.trim();
  if (input.length === 0) throw new TargetError("give a homeserver URL (https://matrix.example.org) or a server name (example.org)");
  if (input.length > 512) throw new TargetError("that is too long for a homeserver URL or server name");
  if (input.includes("://")) {
    let url: URL;
    try {
      url = new URL(input);
    } catch {
      throw new TargetError(`not a URL: ${input}`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") throw new TargetError(`a homeserver URL is https:// (or http:// for local tests), not ${url.protocol}//`);
    if (url.username || url.password) throw new TargetError("a homeserver URL carries no user name or password");
    if (url.search || url.hash) throw new TargetError("a homeserver URL has no query (?…) or fragment (#…)");
    // Plain http to another computer is not refused here, as clients refuse it: it is the `tls` finding.
    const base = url.href.endsWith("/") ? url.href : `${url.href}/`;
    return { kind: "url", input, baseUrl: base };
  }
  const m = SERVER_NAME.exec(input);
  if (!m || input.length > 255 || (m[1] !== undefined && Number(m[1]) > 65535)) {
    throw new TargetError(`not a homeserver URL or server name: ${input} (examples: https://matrix.example.org, example.org)`);
  }
  return { kind: "server_name", input, serverName: input.toLowerCase() };
}
