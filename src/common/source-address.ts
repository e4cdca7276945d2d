// The "source" a connection is counted against for per-address limits: an IPv4 address as it is,
// an IPv4-mapped IPv6 address as its IPv4 address, and an IPv6 address by its /64 prefix (one host
// is commonly given a whole /64, so counting single IPv6 addresses would limit nothing).

import { isIPv4, isIPv6 } from 'node:net';

export function sourceOf(address: string | undefined): string {
  if (!address) return 'unknown';
  if (isIPv4(address)) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1] && isIPv4(mapped[1])) return mapped[1];
  if (!isIPv6(address)) return address;
  const groups = expandIPv6(address.replace(/%.*$/, ''));
  return `${groups.slice(0, 4).join(':')}::/64`;
}

/** The eight groups of an IPv6 address, lower case, without leading zeros. */
function expandIPv6(address: string): string[] {
  // An embedded IPv4 tail (::1.2.3.4) stands for the last two groups.
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  let text = address;
  if (tail?.[1]) {
    const [a = 0, b = 0, c = 0, d = 0] = tail[1].split('.').map(Number);
    text =
      address.slice(0, -tail[1].length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = rest ? rest.split(':') : [];
  const zeros = rest === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((g) => (parseInt(g, 16) || 0).toString(16));
}
