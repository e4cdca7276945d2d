// `lifeline hub join` and `lifeline hub nodes`: more hub nodes over the cluster's PostgreSQL
// database, and the nodes as the database sees them (up, gone once their lease lapsed, stopped).

import type { Command } from 'commander';
import { formatMode } from '../../common/disk/index.js';
import { joinHub, loadHubConfig } from '../../hub/index.js';
import { nodeLeaseMs } from '../../hub/cluster/index.js';
import type { HubNodeState } from '../../hub/store/index.js';
import { ago, printJson, printLine, printTable, tty } from '../io.js';
import { withStore } from './hub.js';

function nodeState(node: HubNodeState, nowMs: number): 'up' | 'gone' | 'stopped' {
  if (node.stoppedAtMs !== null) return 'stopped';
  return nowMs - node.heartbeatAtMs > nodeLeaseMs ? 'gone' : 'up';
}

export function registerHubClusterCommands(hub: Command): void {
  hub
    .command('join')
    .description('make this data directory another node of the cluster in the PostgreSQL database')
    .requiredOption('--data <dir>', 'hub data directory (new, or empty)')
    .requiredOption('--store <url>', 'postgres://USER@HOST:PORT/DATABASE: the cluster database')
    .requiredOption(
      '--cluster-key-file <file>',
      'the cluster key hub init wrote (DATA/cluster-key of the first node)',
    )
    .option('--listen <host:port>', 'station port (mutual TLS)', '127.0.0.1:8443')
    .option('--api-listen <host:port>', 'technician API (HTTPS)', '127.0.0.1:8444')
    .option('--public-url <url>', 'the URL stations and technicians use to reach this node')
    .option('--node-name <name>', "this node's name in `hub nodes` (default: the host's name)")
    .action(
      async (opts: {
        data: string;
        store: string;
        clusterKeyFile: string;
        listen: string;
        apiListen: string;
        publicUrl?: string;
        nodeName?: string;
      }) => {
        const result = await joinHub(opts.data, opts);
        const config = loadHubConfig(opts.data);
        printLine(tty`Node of cluster ${result.clusterId} initialized in ${opts.data}`);
        if (result.dataDirTightenedFrom !== undefined)
          printLine(tty`  data directory  now 0700 (it was ${formatMode(result.dataDirTightenedFrom)})`);
        printLine(tty`  configuration   ${result.configPath}`);
        printLine(tty`  CA certificate  ${result.caCertPath}  (the cluster's)`);
        printLine(tty`  station port    ${config.listen}  (agents dial ${config.stationAddress})`);
        printLine(tty`  technician API  ${config.apiListen}  (${config.apiUrl})`);
        printLine(tty`Start it with: lifeline hub start --data ${opts.data}`);
      },
    );

  hub
    .command('nodes')
    .description("the cluster's hub nodes: address, stations held, last heartbeat, up / gone / stopped")
    .requiredOption('--data <dir>', 'hub data directory of any node')
    .option('--json', 'print JSON')
    .action(async (opts: { data: string; json?: boolean }) => {
      const nodes = await withStore(opts.data, (store) => store.cluster.listNodes());
      const nowMs = Date.now();
      const rows = nodes.map((node) => ({
        id: node.id,
        name: node.name,
        state: nodeState(node, nowMs),
        stationAddress: node.stationAddress,
        apiUrl: node.apiUrl,
        stationsHeld: node.stationsHeld,
        startedAt: new Date(node.startedAtMs).toISOString(),
        lastHeartbeatAt: new Date(node.heartbeatAtMs).toISOString(),
        stoppedAt: node.stoppedAtMs === null ? null : new Date(node.stoppedAtMs).toISOString(),
      }));
      if (opts.json) {
        printJson(rows);
        return;
      }
      if (rows.length === 0) {
        printLine(tty`No hub node has started yet.`);
        return;
      }
      printTable(
        rows.map((row) => ({
          node: row.name,
          state: row.state,
          // The node's own station port (peerAddress), not the balancer's name agents dial.
          'node address': row.stationAddress,
          'technician API': row.apiUrl,
          stations: String(row.stationsHeld),
          'last heartbeat': ago(row.lastHeartbeatAt, nowMs),
        })),
        ['node', 'state', 'node address', 'technician API', 'stations', 'last heartbeat'],
      );
    });
}
