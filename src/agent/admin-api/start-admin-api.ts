// The admin API of the running agent, listening: it owns its connection guard and the page feed
// from here on, and closes them with itself. An address it cannot listen on fails the start with
// API_LISTEN_FAILED naming the address, and leaves nothing open.

import type { AddressInfo } from 'node:net';
import type { Logger } from '../../common/logger.js';
import { formatHostPort, listenError, type HostPort } from '../../common/net/index.js';
import { buildAdminApi, type AdminOps } from './admin-api.js';
import type { AgentControl } from './agent-control.js';

export interface AdminApiDeps extends AdminOps {
  control: AgentControl;
  /** The credential every request but /health and the page files must carry. */
  token: string;
  listen: HostPort;
  logger: Logger;
}

export interface AdminApi {
  /** Where the CLI and the printed links reach it: loopback when it listens on every address. */
  url: string;
  close(): Promise<void>;
}

export async function startAdminApi(deps: AdminApiDeps): Promise<AdminApi> {
  const { feed, guard, listen } = deps;
  let api: Awaited<ReturnType<typeof buildAdminApi>> | undefined;
  const close = async () => {
    // Open event streams would hold the server open.
    feed.close();
    await api?.close();
    guard.close();
  };
  try {
    api = await buildAdminApi(deps.control, deps.token, deps.logger, deps);
    await api.listen({ host: listen.host, port: listen.port });
  } catch (err) {
    await close();
    if ((err as { syscall?: unknown } | null)?.syscall === 'listen')
      throw listenError(err, 'the admin API', listen, '--admin-listen or admin.listen in agent.yaml');
    throw err;
  }
  const address = api.server.address() as AddressInfo;
  // Bound to every address, the CLI and the printed link use loopback (0.0.0.0 is no place to go).
  const urlHost =
    address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '::1' : address.address;
  return { url: `http://${formatHostPort({ host: urlHost, port: address.port })}`, close };
}
