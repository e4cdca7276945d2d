// The link to the hub for a running agent: one dialer over the configured endpoints (through the
// customer's proxy if there is one), the call-home client on it, and the tunnel, which stays off
// until remote service is turned on. close() drops them all; nothing reconnects after it.

import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import type { AgentConfig } from '../config.js';
import { CallHomeClient } from './callhome-client.js';
import { HubDialer, type TlsCredentials } from './hub-dialer.js';
import { describeProxy, resolveProxy } from './proxy-config.js';
import { TunnelClient, type CredentialWatch, type TunnelStreamHandler } from './tunnel-client.js';

export interface LinkDeps {
  config: Readonly<AgentConfig>;
  dataDir: string;
  /** The station's credentials: read at each dial, watched for renewal (StationCredentials). */
  credentials: CredentialWatch & { current(): TlsCredentials };
  /** Takes the session streams the hub opens on the tunnel. */
  gate: TunnelStreamHandler;
  clock: Clock;
  logger: Logger;
}

export interface Link {
  dialer: HubDialer;
  callHome: CallHomeClient;
  tunnel: TunnelClient;
  close(): void;
}

export function startLink(deps: LinkDeps): Link {
  const { config, clock, logger } = deps;
  const proxy = resolveProxy(config.proxy, deps.dataDir);
  if (proxy)
    logger.info(
      { proxy: describeProxy(proxy), source: proxy.source, username: proxy.username ?? null },
      'the hub is reached through an HTTP proxy',
    );
  const dialer = new HubDialer({
    endpoints: config.hub.endpoints,
    serverName: config.hub.serverName,
    credentials: () => deps.credentials.current(),
    proxy,
    connectTimeoutMs: config.tunnel.connectTimeout,
    failoverAfterMs: config.hub.failoverAfter,
    failbackIntervalMs: config.hub.failbackInterval,
    clock,
  });
  dialer.on('failback', (to) => logger.info({ endpoint: to.endpoint }, 'the preferred hub endpoint is back'));
  const tunnel = new TunnelClient({
    dialer,
    credentials: deps.credentials,
    gate: deps.gate,
    clock,
    logger,
    pingIntervalMs: config.tunnel.pingInterval,
    pingTimeoutMs: config.tunnel.pingTimeout,
    reconnectMinMs: config.tunnel.reconnectMin,
    reconnectMaxMs: config.tunnel.reconnectMax,
  });
  let lastLoggedState = '';
  tunnel.on('state', (status) => {
    if (status.state === lastLoggedState) return;
    lastLoggedState = status.state;
    logger.info(
      { tunnel: status.state, endpoint: status.endpoint, lastError: status.lastError },
      `tunnel ${status.state}`,
    );
  });
  const callHome = new CallHomeClient({ dialer });
  return {
    dialer,
    callHome,
    tunnel,
    close() {
      tunnel.close();
      callHome.close();
      dialer.close();
    },
  };
}
