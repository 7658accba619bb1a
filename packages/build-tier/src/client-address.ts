import { BlockList, isIP } from "node:net";

/** TRUSTED_PROXIES as a matcher: addresses or CIDRs, IPv4 or IPv6. */
export function trustedProxies(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = "", prefix] = entry.trim().split("/");
    const family = isIP(address);
    if (family === 0) throw new Error(`TRUSTED_PROXIES: not an IP address or CIDR: ${entry}`);
    const type = family === 4 ? "ipv4" : "ipv6";
    if (prefix === undefined) {
      list.addAddress(address, type);
      continue;
    }
    const bits = Number(prefix);
    if (!Number.isInteger(bits) || bits < 0 || bits > (family === 4 ? 32 : 128)) {
      throw new Error(`TRUSTED_PROXIES: bad prefix length in ${entry}`);
    }
    list.addSubnet(address, bits, type);
  }
  return list;
}

/** `[2001:db8::1]:443`, `192.0.2.1:8080` and `::ffff:192.0.2.1` as plain addresses. */
function plainAddress(hop: string): string {
  let text = hop.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(text);
  if (bracketed) text = bracketed[1] as string;
  else if (/^[\d.]+:\d+$/.test(text)) text = text.slice(0, text.lastIndexOf(":"));
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(text);
  return mapped ? (mapped[1] as string) : text;
}

function isTrusted(address: string, trusted: BlockList): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return trusted.check(address, family === 4 ? "ipv4" : "ipv6");
}

/**
 * Who sent a request: the peer, or behind trusted proxies the nearest
 * untrusted X-Forwarded-For hop, so hops a client wrote itself are never
 * read. undefined when the peer is unknown (an in-process request).
 */
export function clientAddress(
  peer: string | undefined,
  forwardedFor: string | undefined,
  trusted: BlockList,
): string | undefined {
  if (!peer) return undefined;
  let client = plainAddress(peer);
  if (!isTrusted(client, trusted) || !forwardedFor) return client;
  const hops = forwardedFor.split(",").map(plainAddress).filter(Boolean);
  for (let index = hops.length - 1; index >= 0; index--) {
    const hop = hops[index] as string;
    if (isIP(hop) === 0) return client;
    client = hop;
    if (!isTrusted(hop, trusted)) return client;
  }
  return client;
}
