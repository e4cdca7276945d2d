// IP addresses as limits and checks compare them: `canonicalAddress`, one spelling of an address
// (the admin API's Host check), and `sourceOf`, the "source" a client is counted against for
// per-address limits (connections, logins): an IPv4 address as it is, an IPv4-mapped IPv6 address
// as its IPv4 address, and an IPv6 address by its /64 prefix (one host is commonly given a whole
// /64, so counting single IPv6 addresses would limit nothing).

import { isIP } from 'node:net';

export function sourceOf(address: string | undefined): string {
  if (!address) return 'unknown';
  const canonical = canonicalAddress(address);
  if (canonical === undefined) return address;
  if (isIP(canonical) === 4) return canonical;
  const groups = expandIPv6(canonical.replace(/%.*$/, ''));
  return `${groups.slice(0, 4).join(':')}::/64`;
}

/** An IP address in one spelling: IPv6 compressed and lower-case, IPv4-mapped as IPv4; else undefined. */
export function canonicalAddress(text: string): string | undefined {
  const family = isIP(text);
  if (family === 4) return text;
  if (family !== 6) return undefined;
  let canonical: string;
  try {
    canonical = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return text.toLowerCase(); // a zone index (fe80::1%eth0), which URLs do not take
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (!mapped) return canonical;
  const high = parseInt(mapped[1] ?? '0', 16);
  const low = parseInt(mapped[2] ?? '0', 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
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
