// The contract of the cluster's part: one cluster per database, its sealed files, nodes that start,
// beat and stop, and which live node holds a station's tunnel.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TunnelChange } from '../hub-store.js';
import { station, t0, useStore, type OpenHubStore } from './fixtures.js';

const leaseMs = 15_000;

function connect(stationId: string, nodeId: string, atMs: number): TunnelChange {
  return {
    stationId,
    nodeId,
    connected: true,
    atMs,
    audit: { atMs, actor: `station:${stationId}`, action: 'tunnel.connected', stationId, detail: {} },
  };
}

const node = (id: string, startedAtMs = t0) => ({
  id,
  name: `hub-${id}`,
  stationAddress: `${id}.example:8443`,
  apiUrl: `https://${id}.example:8444`,
  startedAtMs,
});

export function describeCluster(open: OpenHubStore): void {
  describe('cluster', () => {
    const store = useStore(open);
    const cluster = () => store().cluster;

    test('a database holds one cluster: a second create writes nothing', async () => {
      assert.equal(await cluster().get(), undefined);
      assert.deepEqual(await cluster().files(), {});
      const first = { id: 'cluster-1', createdAtMs: t0, keyCheck: 'check-1' };
      assert.equal(
        await cluster().create(first, { 'ca.pem': 'sealed-ca', 'ca-key.pem': 'sealed-key' }),
        true,
      );
      assert.equal(
        await cluster().create(
          { id: 'cluster-2', createdAtMs: t0 + 1, keyCheck: 'check-2' },
          { 'ca.pem': 'other' },
        ),
        false,
      );
      assert.deepEqual(await cluster().get(), first);
      assert.deepEqual(await cluster().files(), { 'ca-key.pem': 'sealed-key', 'ca.pem': 'sealed-ca' });
    });

    test('the files are replaced whole, by one node at a time, each replacement a new version', async () => {
      await cluster().create(
        { id: 'c', createdAtMs: t0, keyCheck: 'k' },
        { 'ca.pem': 'v0', 'old.pem': 'gone' },
      );
      assert.equal(await cluster().filesVersion(), 0);
      const raced = await Promise.all([
        cluster().replaceFiles(0, { 'ca.pem': 'from-a', 'next.pem': 'a' }, t0 + 1),
        cluster().replaceFiles(0, { 'ca.pem': 'from-b' }, t0 + 1),
      ]);
      assert.deepEqual(raced.filter(Boolean).length, 1, 'one of two wins');
      assert.equal(await cluster().filesVersion(), 1);
      const files = await cluster().files();
      assert.ok(
        JSON.stringify(files) === JSON.stringify({ 'ca.pem': 'from-a', 'next.pem': 'a' }) ||
          JSON.stringify(files) === JSON.stringify({ 'ca.pem': 'from-b' }),
        JSON.stringify(files),
      );
      assert.equal(await cluster().replaceFiles(0, { 'ca.pem': 'stale' }, t0 + 2), false);
      assert.equal(await cluster().replaceFiles(1, { 'ca.pem': 'v2' }, t0 + 2), true);
      assert.deepEqual(await cluster().files(), { 'ca.pem': 'v2' });
      assert.equal(await cluster().filesVersion(), 2);
    });

    test('nodes start, beat and stop; a stopped node holds no station', async () => {
      await cluster().startNode(node('a'));
      await cluster().startNode(node('b', t0 + 1));
      assert.equal(await cluster().beat('a', t0 + 5000), true);
      assert.equal(await cluster().beat('nobody', t0 + 5000), false);
      for (const id of ['ST-1', 'ST-2', 'ST-3']) await store().addStation(station(id));
      await store().recordTunnelChanges([
        connect('ST-1', 'a', t0 + 10),
        connect('ST-2', 'a', t0 + 11),
        connect('ST-3', 'b', t0 + 12),
      ]);
      let nodes = await cluster().listNodes();
      assert.deepEqual(
        nodes.map((n) => [n.id, n.heartbeatAtMs, n.stoppedAtMs, n.stationsHeld]),
        [
          ['a', t0 + 5000, null, 2],
          ['b', t0 + 1, null, 1],
        ],
      );
      assert.deepEqual(nodes[0], {
        ...node('a'),
        heartbeatAtMs: t0 + 5000,
        stoppedAtMs: null,
        stationsHeld: 2,
      });
      await cluster().stopNode('a', t0 + 6000);
      nodes = await cluster().listNodes();
      assert.deepEqual(
        nodes.map((n) => [n.id, n.stoppedAtMs, n.stationsHeld]),
        [
          ['a', t0 + 6000, 0],
          ['b', null, 1],
        ],
      );
      assert.equal((await store().getStation('ST-1'))?.connectedSinceMs, null);
      // Started again: the same row, beating, no longer stopped.
      await cluster().startNode(node('a', t0 + 7000));
      assert.deepEqual((await cluster().listNodes())[1], {
        ...node('a', t0 + 7000),
        heartbeatAtMs: t0 + 7000,
        stoppedAtMs: null,
        stationsHeld: 0,
      });
    });

    test('a station is located on the node holding its tunnel while that node beats within the lease', async () => {
      await cluster().startNode(node('a'));
      await store().addStation(station('ST-1'));
      await store().addStation(station('ST-2'));
      await store().recordTunnelChanges([connect('ST-1', 'a', t0 + 10)]);
      assert.equal((await cluster().locateStation('ST-1', t0 + 100, leaseMs))?.id, 'a');
      assert.equal(await cluster().locateStation('ST-2', t0 + 100, leaseMs), undefined, 'not connected');
      assert.equal(await cluster().locateStation('ST-9', t0 + 100, leaseMs), undefined, 'not enrolled');
      // Node A dies: no beat for longer than the lease.
      assert.equal(await cluster().locateStation('ST-1', t0 + leaseMs + 1, leaseMs), undefined);
      await cluster().beat('a', t0 + leaseMs);
      assert.equal((await cluster().locateStation('ST-1', t0 + leaseMs + 1, leaseMs))?.id, 'a');
      assert.deepEqual(
        [...(await cluster().heldStations(t0 + leaseMs + 1, leaseMs))],
        [['ST-1', { nodeId: 'a', connectedSinceMs: t0 + 10 }]],
      );
      assert.equal((await cluster().heldStations(t0 + 2 * leaseMs + 1, leaseMs)).size, 0, 'node A gone');
    });

    test('one node takes each turn at a job; the next turn is due an interval later', async () => {
      const every = 60_000;
      const asked = await Promise.all(
        ['a', 'b', 'c'].map((n) => cluster().takeTurn('retention', n, t0, every)),
      );
      assert.equal(asked.filter(Boolean).length, 1, 'one node of three');
      assert.equal(await cluster().takeTurn('retention', 'b', t0 + every - 1, every), false, 'not yet due');
      assert.equal(await cluster().takeTurn('silence', 'b', t0 + 1, every), true, 'another job is its own');
      assert.equal(await cluster().takeTurn('retention', 'b', t0 + every, every), true, 'due again');
      assert.equal(await cluster().takeTurn('retention', 'a', t0 + every + 1, every), false);
    });
  });
}
