// What a user types into "Homeserver" — "example.org", "matrix.example.org", "https://matrix.example.org/"
// — into the base URL of the Client-Server API. A bare name gets https://; a server name is looked up
// in /.well-known/matrix/client (Client-Server API, "Server Discovery") for its m.homeserver.base_url.
// Plain http is accepted only for loopback hosts (a development homeserver on this machine).

const LOOPBACK = /^(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])$/;

export class HomeserverInputError extends Error {
  override readonly name = "HomeserverInputError";
}

/** The typed address as a URL (with a trailing slash), or a HomeserverInputError saying what is wrong. */
export function parseHomeserverInput(input: string): URL {
  const text = input.trim();
  if (text === "") throw new HomeserverInputError("Enter the address of your homeserver, for example matrix.org.");
  let u: URL;
  try {
    u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`);
  } catch {
    throw new HomeserverInputError(`“${text}” is not a server address.`);
  }
  if (u.protocol === "http:" && !LOOPBACK.test(u.hostname)) throw new HomeserverInputError("Use https:// (plain http is only for a server on this computer).");
  if (u.protocol !== "https:" && u.protocol !== "http:") throw new HomeserverInputError(`“${text}” is not a web address (https://…).`);
  if (u.username || u.password || u.search || u.hash) throw new HomeserverInputError("Enter only the server address, without a user name or parameters.");
  if (!u.pathname.endsWith("/")) u.pathname += "/";
  return u;
}

/** The homeserver's base URL: the well-known answer when there is one, else the typed address. */
export async function resolveHomeserver(input: string, opts: { fetch?: typeof fetch; signal?: AbortSignal } = {}): Promise<string> {
  const typed = parseHomeserverInput(input);
  const f = opts.fetch ?? fetch;
  try {
    const res = await f(new URL("/.well-known/matrix/client", typed.origin), { headers: { accept: "application/json" }, ...(opts.signal ? { signal: opts.signal } : {}) });
    if (res.ok) {
      const body = (await res.json()) as { "m.homeserver"?: { base_url?: unknown } };
      const base = body?.["m.homeserver"]?.base_url;
      if (typeof base === "string") return parseHomeserverInput(base).href;
    } else {
      await res.arrayBuffer().catch(() => undefined);
    }
  } catch (err) {
    if (err instanceof HomeserverInputError) throw err;
    // No well-known (or not JSON): the typed address is the homeserver itself.
  }
  return typed.href;
}
