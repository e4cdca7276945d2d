// Where a session request goes: to the station's tunnel on this node, or over the link to the node
// of the cluster that holds it (its lease still running). A station held by no live node is
// offline, as on a single hub.

import type { ClientHttp2Stream } from 'node:http2';
import type { Clock } from '../../common/clock.js';
import type { HubStore } from '../store/index.js';
import type { NodeIdentity } from './node-identity.js';
import { nodeLeaseMs } from './node-heartbeat.js';
import type { PeerLinks, StationSessionRequest } from './peer-links.js';

export interface StationReachOptions {
  self: NodeIdentity;
  /** This node's tunnels. */
  hasLocal: (stationId: string) => boolean;
  openLocal: (stationId: string, request: StationSessionRequest) => ClientHttp2Stream;
  store: HubStore;
  peers: PeerLinks;
  clock: Clock;
}

export function stationReach(
  options: StationReachOptions,
): (stationId: string, request: StationSessionRequest) => Promise<ClientHttp2Stream> {
  return async (stationId, request) => {
    if (options.hasLocal(stationId)) return options.openLocal(stationId, request);
    const node = await options.store.cluster.locateStation(stationId, options.clock.now(), nodeLeaseMs);
    // Not held by a live node (or recorded as here but gone): offline, as the local registry says.
    if (!node || node.id === options.self.id) return options.openLocal(stationId, request);
    return options.peers.openSession(node, stationId, request);
  };
}
