// The key that per-client limits count under. An IPv4 address is one client; an IPv6 address is
// not: a home or mobile network is handed a whole /64 (RFC 6177), and its hosts pick addresses in it
// freely (privacy addresses, RFC 8981), so one device can present a fresh address per request. Every
// per-client limit (rates, live sessions, held GETs, connections, token checks) therefore counts an
// IPv6 client per /64. IPv4-mapped IPv6 addresses (a dual-stack listener) count as their IPv4.

/** `192.0.2.1` → itself; `2001:db8:0:1:aaaa::1` → `2001:db8:0:1::/64`; `::ffff:192.0.2.1` → `192.0.2.1`. */
export function clientKey(ip: string): string {
  // The hot path (every poll): an IPv4 address needs no work.
  if (ip.indexOf(":") === -1) return ip;
  const groups = ipv6Groups(ip);
  if (!groups) return ip; // not an address we can read: count it as it is
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`;
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (with `::`, an embedded IPv4 tail, a zone), or null. */
function ipv6Groups(text: string): number[] | null {
  const zone = text.indexOf("%");
  let s = zone === -1 ? text : text.slice(0, zone);
  const tail: number[] = [];
  const lastColon = s.lastIndexOf(":");
  if (s.indexOf(".", lastColon) !== -1) {
    const v4 = s.slice(lastColon + 1).split(".");
    if (v4.length !== 4 || !v4.every((p) => /^\d{1,3}$/.test(p) && Number(p) < 256)) return null;
    const [a, b, c, d] = v4.map(Number) as [number, number, number, number];
    tail.push((a << 8) | b, (c << 8) | d);
    // Keep a `::` that stood right before the IPv4 part ("::1.2.3.4", "64:ff9b::1.2.3.4").
    s = s.slice(0, s[lastColon - 1] === ":" ? lastColon + 1 : lastColon);
  }
  const parts = s.split("::");
  if (parts.length > 2) return null;
  const parse = (p: string | undefined): number[] | null => {
    if (!p) return [];
    const out: number[] = [];
    for (const g of p.split(":")) {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parse(parts[0]);
  const rest = parts.length === 2 ? parse(parts[1]) : [];
  if (!head || !rest) return null;
  const known = head.length + rest.length + tail.length;
  if (parts.length === 1 ? known !== 8 : known > 7) return null;
  return [...head, ...new Array<number>(8 - known).fill(0), ...rest, ...tail];
}
