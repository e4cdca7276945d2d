// The station port as the running hub starts and stops it: listening, with the watches that close a
// revoked station's connections and mark silent stations. Stopping tells every agent the hub goes
// away and waits for their tunnels to close, so the sessions on them end with that reason.

import type { TLSSocket } from 'node:tls';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import { listenError, type ConnectionGuard, type HostPort } from '../../common/net/index.js';
import type { HubStore } from '../store/index.js';
import type { HubAudit } from '../audit/index.js';
import type { TunnelAdmission } from './admission.js';
import { RevocationWatch } from './revocation-watch.js';
import { StationListener, type StationListenerCredentials } from './station-listener.js';
import { SilenceMonitor } from './station-silence.js';
import type { TunnelRegistry } from './tunnel-registry.js';

export interface StationPortOptions {
  address: HostPort;
  /** This hub node (cluster-wide checks take turns between nodes). */
  nodeId: string;
  credentials: StationListenerCredentials;
  store: HubStore;
  audit: HubAudit;
  registry: TunnelRegistry;
  admission: TunnelAdmission;
  guard: ConnectionGuard;
  clock: Clock;
  logger: Logger;
  /** Takes call-home connections, and upload channel connections for its attachment receiver. */
  callHome: { accept(socket: TLSSocket): void; acceptUpload(socket: TLSSocket): void };
  /** Takes links from the other hub nodes of the cluster (their certificates checked). */
  peer: (socket: TLSSocket) => void;
}

export interface StationPort {
  /** The port listened on (the one asked for, or the one given for port 0). */
  readonly port: number;
  /** New key, certificate or CA bundle for connections from now on (a rotation). */
  setCredentials(credentials: StationListenerCredentials): void;
  /** Stops the watches, sends every tunnel away and waits until every connection has closed. */
  close(): Promise<void>;
}

/** Listens on the station port; rejects with API_LISTEN_FAILED naming the address when it cannot. */
export async function startStationPort(options: StationPortOptions): Promise<StationPort> {
  const { registry, logger } = options;
  const { callHome } = options;
  const listener = new StationListener({
    ...options,
    ...options.credentials,
    callHome: (socket) => callHome.accept(socket),
    upload: (socket) => callHome.acceptUpload(socket),
    peer: options.peer,
  });
  let port: number;
  try {
    ({ port } = await listener.listen(options.address));
  } catch (err) {
    await listener.close();
    throw listenError(err, 'the station port', options.address, 'listen in hub.yaml');
  }
  const revocations = new RevocationWatch({ ...options, closer: listener });
  revocations.start();
  const silence = new SilenceMonitor(options);
  silence.start();
  let closing: Promise<void> | undefined;
  return {
    port,
    setCredentials: (credentials) => listener.setCredentials(credentials),
    close: () =>
      (closing ??= (async () => {
        await revocations.close();
        await silence.close();
        // Resolves once every connection is gone: the tunnels closed below, the others destroyed.
        const stopped = listener.close();
        // GOAWAY first: agents end their sessions and the end reason reaches the technicians.
        await registry.closeAll('the hub is shutting down');
        listener.destroyAll();
        await stopped;
        logger.debug('station port closed');
      })()),
  };
}
