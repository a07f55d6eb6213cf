// `trust_proxy`: which peers may tell the server, in X-Forwarded-For / -Proto / -Host, who the client
// is. Three forms, safest first:
//   - the proxies' addresses or CIDRs (or proxy-addr's names loopback, linklocal, uniquelocal): a
//     forwarded address is believed only from those peers;
//   - a hop count n: the n nearest hops are taken for proxies, whoever they are; safe only when
//     nothing but the proxy can reach the server;
//   - true: every hop is believed, so any client can claim any address by sending the header itself.
// fastify takes the address forms as they are. A bare hop count it ignores altogether (it trusts no
// forwarded address then), so a count is handed to it as proxy-addr's hop-count rule instead.
import { BlockList, isIPv4, isIPv6 } from "node:net";

export type TrustProxy = boolean | number | string | readonly string[];

/** What fastify's `trustProxy` option needs for the same meaning. */
export function fastifyTrustProxy(v: TrustProxy | undefined): boolean | string | string[] | ((address: string, hop: number) => boolean) {
  if (v === undefined) return false;
  if (typeof v === "number") {
    const hops = v;
    return (_address, hop) => hop < hops;
  }
  return typeof v === "string" ? v : typeof v === "boolean" ? v : [...v];
}

/** The warning to log at start, or null: `true` lets any client choose its address for the limits. */
export function trustProxyWarning(v: TrustProxy | undefined): string | null {
  if (v !== true) return null;
  return "trust_proxy is true: X-Forwarded-For is believed from any peer, so a client that reaches this server directly can " +
    "claim any address and escape the per-IP limits; set trust_proxy to the proxy's addresses (or a hop count, if only the proxy can reach the server)";
}

const NAMED: Record<string, readonly [string, number, "ipv4" | "ipv6"][]> = {
  loopback: [["127.0.0.1", 8, "ipv4"], ["::1", 128, "ipv6"]],
  linklocal: [["169.254.0.0", 16, "ipv4"], ["fe80::", 10, "ipv6"]],
  uniquelocal: [["10.0.0.0", 8, "ipv4"], ["172.16.0.0", 12, "ipv4"], ["192.168.0.0", 16, "ipv4"], ["fc00::", 7, "ipv6"]],
};

/**
 * Whether a connection's peer is a trusted proxy (then connection caps do not count it: its
 * connections carry many clients). With `true` or a hop count every peer is taken for a proxy.
 * Throws on an entry that is not an address, a CIDR or one of the names.
 */
export function trustedPeer(v: TrustProxy | undefined): (address: string) => boolean {
  if (v === undefined || v === false) return () => false;
  if (v === true || typeof v === "number") return () => true;
  const list = new BlockList();
  for (const raw of typeof v === "string" ? v.split(",") : v) {
    const entry = raw.trim();
    if (!entry) continue;
    const named = NAMED[entry];
    if (named) {
      for (const [net, prefix, family] of named) list.addSubnet(net, prefix, family);
      continue;
    }
    const [address, prefixText] = entry.split("/") as [string, string | undefined];
    const family = isIPv4(address) ? "ipv4" : isIPv6(address) ? "ipv6" : null;
    const prefix = prefixText === undefined ? undefined : Number(prefixText);
    if (!family || (prefix !== undefined && (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === "ipv4" ? 32 : 128)))) {
      throw new Error(`trust_proxy: "${entry}" is not an IP address, a CIDR or one of loopback, linklocal, uniquelocal`);
    }
    if (prefix === undefined) list.addAddress(address, family);
    else list.addSubnet(address, prefix, family);
  }
  return (address) => {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return list.check(mapped[1]!, "ipv4");
    return isIPv4(address) ? list.check(address, "ipv4") : isIPv6(address) && list.check(address, "ipv6");
  };
}
