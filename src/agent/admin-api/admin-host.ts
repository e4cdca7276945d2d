// Which `Host` the admin API answers to. A web page on a name its owner points at 127.0.0.1 (DNS
// rebinding) is same-origin with whatever listens there, so the administrator's browser would carry
// its requests to the admin API; their Host header still names the page's name, and is refused.
//
// Accepted, each with the port the request actually came in on (80 when the Host gives none):
// - `localhost`;
// - the address the connection was made to (`socket.localAddress`): with a listen address on
//   0.0.0.0 or ::, whichever of the machine's addresses the client used; otherwise the one bound;
// - the configured listen host when it is a name (admin.listen: appliance.example.com:8080);
// - the names in admin.allowedHosts (an administrator opening the page by the appliance's name).
// An IP address is compared in canonical form ([0:0::1] is ::1, ::ffff:127.0.0.1 is 127.0.0.1).

import { canonicalAddress } from '../../common/net/index.js';

export interface AdminHostRules {
  /** The host of admin.listen (or --admin-listen) as configured. */
  listenHost: string;
  /** admin.allowedHosts: more names the API answers to. */
  allowedHosts: readonly string[];
}

const hostHeaderPattern = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?$/;

/** True when `hostHeader` names this admin API as the connection reached it. */
export function isOwnHost(
  hostHeader: string | undefined,
  connection: { localAddress: string | undefined; localPort: number | undefined },
  rules: AdminHostRules,
): boolean {
  const match = hostHeaderPattern.exec(hostHeader ?? '');
  if (!match) return false;
  const port = match[3] === undefined ? 80 : Number(match[3]);
  if (port !== connection.localPort) return false;
  const literal = match[1];
  if (literal !== undefined) {
    const address = canonicalAddress(literal);
    return address !== undefined && isOwnAddress(address, connection.localAddress, rules.listenHost);
  }
  const name = (match[2] ?? '').toLowerCase();
  const address = canonicalAddress(name);
  if (address !== undefined) return isOwnAddress(address, connection.localAddress, rules.listenHost);
  return (
    name === 'localhost' ||
    name === rules.listenHost.toLowerCase() ||
    rules.allowedHosts.some((allowed) => allowed.toLowerCase() === name)
  );
}

function isOwnAddress(address: string, localAddress: string | undefined, listenHost: string): boolean {
  return (
    address === canonicalAddress(localAddress ?? '') ||
    (!isWildcard(listenHost) && address === canonicalAddress(listenHost))
  );
}

function isWildcard(host: string): boolean {
  const address = canonicalAddress(host);
  return address === '0.0.0.0' || address === '::';
}
