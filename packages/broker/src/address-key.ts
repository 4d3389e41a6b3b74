import { isIPv4, isIPv6 } from 'node:net';

const MAPPED_IPV4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/**
 * The key per-address limits count a client under: an IPv4 address as it is (an IPv4-mapped
 * IPv6 one as its IPv4 form), an IPv6 address as its /64 network, since one host commonly holds
 * a whole /64 and would otherwise get a fresh allowance from each of its addresses. Anything
 * else (a Unix socket's empty address) is its own key. Never throws.
 */
export function addressKey(address: string): string {
  const mapped = MAPPED_IPV4.exec(address);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  const zone = address.indexOf('%');
  const bare = zone >= 0 ? address.slice(0, zone) : address;
  if (!isIPv6(bare)) return address;
  const groups = expandIPv6(bare);
  return `${groups.slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, lower-case hex without leading zeros. */
function expandIPv6(address: string): string[] {
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const parts = (text: string | undefined) => (text === undefined || text === '' ? [] : text.split(':').flatMap(groupsOf));
  const front = parts(head);
  if (tail === undefined) return front;
  const back = parts(tail);
  return [...front, ...Array<string>(8 - front.length - back.length).fill('0'), ...back];
}

/** One group, or the two an embedded IPv4 tail (`::1.2.3.4`) stands for. */
function groupsOf(part: string): string[] {
  if (!part.includes('.')) return [parseInt(part, 16).toString(16)];
  const [a, b, c, d] = part.split('.').map(Number) as [number, number, number, number];
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
}
