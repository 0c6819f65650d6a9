// IP addresses grouped into the networks one party usually holds: a /24 for IPv4, a /64 for IPv6.
import { isIPv4, isIPv6 } from 'node:net';

/** A network as the Audit Log filters by it: IPv4 by the text prefix of its /24, IPv6 by its /64 (tested in code). */
export type Network = { cidr: string; family: 4; prefix: string } | { cidr: string; family: 6 };

/** The IPv4 address itself, or inside an IPv4-mapped IPv6 address ("::ffff:203.0.113.9"). */
function ipv4Of(ip: string): string | null {
  if (isIPv4(ip)) return ip;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return mapped && isIPv4(mapped[1]!) ? mapped[1]! : null;
}

/** The eight 16-bit groups of an IPv6 address. */
function groupsOf(ip: string): number[] {
  const address = ip.split('%')[0]!.toLowerCase();
  const [head, tail] = address.includes('::') ? address.split('::') : [address, null];
  const parse = (part: string | null | undefined): number[] =>
    !part
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [Number.parseInt(group, 16)];
          const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
          return [(a << 8) | b, (c << 8) | d];
        });
  const first = parse(head);
  const last = parse(tail);
  return tail === null ? first : [...first, ...new Array<number>(8 - first.length - last.length).fill(0), ...last];
}

/** RFC 5952 text: lower case, no leading zeros, the longest run of zero groups as "::". */
function formatGroups(groups: number[]): string {
  let best = { start: -1, length: 1 };
  for (let start = 0; start < 8; start++) {
    let length = 0;
    while (start + length < 8 && groups[start + length] === 0) length++;
    if (length > best.length) best = { start, length };
  }
  const text = groups.map((group) => group.toString(16));
  if (best.start < 0) return text.join(':');
  return `${text.slice(0, best.start).join(':')}::${text.slice(best.start + best.length).join(':')}`;
}

/** "203.0.113.0/24" or "2001:db8:1:2::/64"; null for text that is not an IP address. */
export function networkOf(ip: string): string | null {
  const v4 = ipv4Of(ip);
  if (v4) return `${v4.split('.').slice(0, 3).join('.')}.0/24`;
  if (!isIPv6(ip)) return null;
  return `${formatGroups([...groupsOf(ip).slice(0, 4), 0, 0, 0, 0])}/64`;
}

/**
 * A network typed into the Audit Log's filter: an IPv4 /24 or an IPv6 /64, in any address inside it.
 * Null when the text is not one.
 */
export function parseNetwork(text: string): Network | null {
  const [address, bits, extra] = text.split('/');
  if (extra !== undefined || address === undefined) return null;
  if (isIPv4(address) && bits === '24') {
    const prefix = `${address.split('.').slice(0, 3).map(Number).join('.')}.`;
    return { cidr: `${prefix}0/24`, family: 4, prefix };
  }
  if (isIPv6(address) && bits === '64') return { cidr: networkOf(address)!, family: 6 };
  return null;
}

/** Whether an address (as recorded) lies in the network. */
export function inNetwork(ip: string, network: Network): boolean {
  return networkOf(ip) === network.cidr;
}
