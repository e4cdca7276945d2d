// A node tells the cluster it is alive: its row in hub_nodes is written at start, beats every
// 5 s, and is marked stopped at an orderly close (its stations are then no longer its own). A node
// that dies just stops beating: after the lease (15 s) no one routes to it, and `hub nodes` shows
// it as gone.

import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import type { HubStore } from '../store/index.js';
import type { NodeIdentity } from './node-identity.js';

export const nodeBeatIntervalMs = 5_000;
export { nodeLeaseMs } from '../store/index.js';

export interface NodeHeartbeatOptions {
  store: HubStore;
  identity: NodeIdentity;
  stationAddress: string;
  apiUrl: string;
  clock: Clock;
  logger: Logger;
}

export class NodeHeartbeat {
  readonly #options: NodeHeartbeatOptions;
  #timer: NodeJS.Timeout | undefined;
  #beating: Promise<void> = Promise.resolve();

  private constructor(options: NodeHeartbeatOptions) {
    this.#options = options;
  }

  static async start(options: NodeHeartbeatOptions): Promise<NodeHeartbeat> {
    const heartbeat = new NodeHeartbeat(options);
    const { store, identity, clock } = options;
    await store.cluster.startNode({
      id: identity.id,
      name: identity.name,
      stationAddress: options.stationAddress,
      apiUrl: options.apiUrl,
      startedAtMs: clock.now(),
    });
    heartbeat.#timer = setInterval(() => heartbeat.#beat(), nodeBeatIntervalMs).unref();
    return heartbeat;
  }

  #beat(): void {
    const { store, identity, clock, logger } = this.#options;
    this.#beating = store.cluster
      .beat(identity.id, clock.now())
      .then((known) => {
        if (!known) logger.warn({ node: identity.name }, 'this node is missing from the cluster table');
      })
      .catch((err: unknown) => logger.warn({ err }, 'the node heartbeat was not written'));
  }

  /** Stops beating and marks the node stopped. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#beating;
    await this.#options.store.cluster.stopNode(this.#options.identity.id, this.#options.clock.now());
  }
}
