// Request URLs as the debug log shows them. A session id is a bearer capability (whoever has it can
// read and write the session), so no spelling of a path may carry one into the logs: not the route's
// `/rendezvous/<id>`, and not what a confused client or a prober sends instead (`rendezvous//<id>`,
// `rendezvous;<id>`, `rendezvous%2F<id>`, an id under another prefix or doubly escaped).

/** Runs of id characters this long are taken for ids wherever they stand (ours are 22). */
const ID_LIKE = /[A-Za-z0-9_-]{16,}/g;
const RENDEZVOUS = /rendezvous/i;

/**
 * The path without query or fragment, percent-escapes decoded (repeatedly, so `%252F` is seen as
 * `/`), everything after the first `rendezvous` replaced by `/<id>` (unless it is only slashes), and
 * any other id-like run replaced by `<id>`.
 */
export function logUrl(url: string): string {
  let path = url.replace(/[?#][\s\S]*$/, "");
  for (let i = 0; i < 3 && path.includes("%"); i++) {
    const decoded = path.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    if (decoded === path) break;
    path = decoded.replace(/[?#][\s\S]*$/, "");
  }
  const m = RENDEZVOUS.exec(path);
  if (m) {
    const end = m.index + m[0].length;
    if (/[^/]/.test(path.slice(end))) path = `${path.slice(0, end)}/<id>`;
  }
  return path.replace(ID_LIKE, "<id>");
}
