// The cluster's part of the store: several hub nodes share one database. The cluster itself (its id
// and a check of the operator's cluster key), the files every node needs (CA, ticket and fix keys,
// sealed with that key: the database alone does not give them away), and the nodes with their
// heartbeats, which say which node holds which station's tunnel while its lease lasts.

/** A node whose last heartbeat is older than this is gone: nothing is routed to it. */
export const nodeLeaseMs = 15_000;

export interface ClusterRecord {
  id: string;
  createdAtMs: number;
  /** Proves a cluster key belongs to this cluster without holding the key (see cluster-key.ts). */
  keyCheck: string;
}

export interface HubNodeRecord {
  id: string;
  name: string;
  /**
   * HOST:PORT of this node's own station port (hub.yaml peerAddress): where the other nodes open
   * their links to it, not the load balancer's address agents are given.
   */
  stationAddress: string;
  /** The node's technician API. */
  apiUrl: string;
  startedAtMs: number;
  heartbeatAtMs: number;
  /** Set by a node that stopped in order; a node that died only stops beating. */
  stoppedAtMs: number | null;
}

export interface HubNodeState extends HubNodeRecord {
  /** Stations whose tunnel this node recorded as connected. */
  stationsHeld: number;
}

export interface HubClusterStore {
  /** Creates the cluster with its sealed files; false, writing nothing, when there is one already. */
  create(cluster: ClusterRecord, sealedFiles: Readonly<Record<string, string>>): Promise<boolean>;
  get(): Promise<ClusterRecord | undefined>;
  /** The sealed files, by name. */
  files(): Promise<Record<string, string>>;
  /** How many times the files were replaced since the cluster was made (0 at first). */
  filesVersion(): Promise<number>;
  /**
   * Replaces the whole set of sealed files, if they are still at `expectedVersion`; the version
   * becomes expectedVersion + 1. False, changing nothing, when another node replaced them first.
   */
  replaceFiles(
    expectedVersion: number,
    sealedFiles: Readonly<Record<string, string>>,
    nowMs: number,
  ): Promise<boolean>;
  /** Records the node as started (again), beating at startedAtMs. */
  startNode(node: Omit<HubNodeRecord, 'heartbeatAtMs' | 'stoppedAtMs'>): Promise<void>;
  /** The node is alive at nowMs; false when the node is not known (it was never started). */
  beat(nodeId: string, nowMs: number): Promise<boolean>;
  /** The node stopped in order at nowMs; its stations are no longer held by it. */
  stopNode(nodeId: string, nowMs: number): Promise<void>;
  listNodes(): Promise<HubNodeState[]>;
  /**
   * The node holding the station's tunnel if its heartbeat is newer than leaseMs before nowMs,
   * else undefined (not connected, or held by a node that has since died).
   */
  locateStation(stationId: string, nowMs: number, leaseMs: number): Promise<HubNodeRecord | undefined>;
  /** Stations whose tunnel a live node holds (heartbeat newer than leaseMs before nowMs). */
  heldStations(
    nowMs: number,
    leaseMs: number,
  ): Promise<Map<string, { nodeId: string; connectedSinceMs: number }>>;
  /**
   * Takes this interval's turn at the job `name` for the node: true (and the next turn is due
   * everyMs from now) when the turn was due, false when another node took it. A node that dies
   * holding it gives it up when the interval ends. One node in the cluster wins each turn.
   */
  takeTurn(name: string, nodeId: string, nowMs: number, everyMs: number): Promise<boolean>;
}
