import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkReportPayload } from './reports.js';
import { canonicalJson, inventoryDigest, type InventoryPayload } from './report-payloads.js';

const t0 = Date.UTC(2026, 0, 1);

const appliance = {
  hostName: 'hmc1',
  os: 'Ubuntu 24.04 LTS',
  kernel: '6.8.0 #1 SMP',
  cpu: { model: 'Xeon', count: 8 },
  memoryBytes: 16 * 2 ** 30,
  lifelineVersion: '0.1.0',
  serial: 'APP-1',
};
const systems = [
  {
    serial: 'SN-1',
    type: '9105',
    model: '42A',
    firmware: { system: 'FW950.50', bmc: '1.22' },
    parts: [{ name: 'fan', partNumber: '01AB123', location: 'U78-A1' }],
  },
];

function inventory(): InventoryPayload {
  return { collectedAtMs: t0, digest: inventoryDigest({ appliance, systems }), appliance, systems };
}

test('an inventory, a heartbeat, performance samples and a typed generic report fit their schemas', () => {
  assert.equal(checkReportPayload('inventory', inventory()), undefined);
  assert.equal(
    checkReportPayload('heartbeat', {
      atMs: t0,
      uptimeSeconds: 12.5,
      intervalMs: 60_000,
      systems: [
        { serial: 'SN-1', status: 'ok' },
        { serial: 'SN-2', status: 'critical', detail: 'power supply 2 failed', sinceMs: t0 },
      ],
    }),
    undefined,
  );
  assert.equal(
    checkReportPayload('performance', {
      source: 'host',
      samples: [
        {
          atMs: t0,
          spanMs: 10_000,
          cpu: { utilizationPct: 25, count: 2 },
          load: { one: 0.5, five: 0.4, fifteen: 0.2 },
          memory: { usedBytes: 1, totalBytes: 2 },
          network: [{ name: 'eth0', rxBytesPerSec: 100, txBytesPerSec: 5 }],
          disks: [{ name: 'vda', readBytesPerSec: 1, writeBytesPerSec: 2, readIops: 3, writeIops: 4 }],
        },
      ],
    }),
    undefined,
  );
  // A managed system may report only what it measures.
  assert.equal(
    checkReportPayload('performance', {
      source: 'SN-1',
      samples: [{ atMs: t0, spanMs: 1, cpu: { utilizationPct: 3 } }],
    }),
    undefined,
  );
  assert.equal(
    checkReportPayload('generic', { type: 'deconfigured-resources', data: { resources: ['cpu 3'] } }),
    undefined,
  );
});

test('what does not fit is refused with the path and the reason', () => {
  const cases: [Parameters<typeof checkReportPayload>[0], unknown, RegExp][] = [
    ['inventory', { ...inventory(), digest: 'abc' }, /digest: a SHA-256/],
    ['inventory', { ...inventory(), extra: 1 }, /Unrecognized key: "extra"/],
    [
      'inventory',
      { ...inventory(), systems: [{ serial: '', firmware: {} }] },
      /systems\.0\.serial: Too small/,
    ],
    ['heartbeat', { atMs: t0, uptimeSeconds: 1, intervalMs: 1000, systems: [] }, /intervalMs: Too small/],
    [
      'heartbeat',
      { atMs: t0, uptimeSeconds: 1, intervalMs: 60_000, systems: [{ serial: 'SN-1', status: 'fine' }] },
      /systems\.0\.status/,
    ],
    ['performance', { source: 'host', samples: [] }, /samples: Too small/],
    [
      'performance',
      { source: 'host', samples: [{ atMs: t0, spanMs: 1, cpu: { utilizationPct: 101 } }] },
      /samples\.0\.cpu\.utilizationPct: Too big/,
    ],
    [
      'performance',
      {
        source: 'host',
        samples: [{ atMs: t0, spanMs: 1, network: [{ name: 'eth0', rxBytesPerSec: -1, txBytesPerSec: 0 }] }],
      },
      /samples\.0\.network\.0\.rxBytesPerSec/,
    ],
    ['generic', { data: 1 }, /type: /],
    ['generic', { type: 'Maintenance Statistics' }, /type: expected a report type/],
    ['generic', { type: 'big', data: 'x'.repeat(70_000) }, /at most 60,000 characters/],
  ];
  for (const [kind, payload, reason] of cases) {
    const why = checkReportPayload(kind, payload);
    assert.ok(why, `${kind} ${JSON.stringify(payload).slice(0, 80)} should be refused`);
    assert.match(why, reason);
  }
});

test('the inventory digest depends on the content, not on key order', () => {
  const reordered = { systems, appliance: Object.fromEntries(Object.entries(appliance).reverse()) };
  assert.equal(inventoryDigest(reordered), inventoryDigest({ appliance, systems }));
  assert.notEqual(
    inventoryDigest({ appliance, systems: [{ ...systems[0], firmware: { system: 'FW950.60' } }] }),
    inventoryDigest({ appliance, systems }),
  );
  assert.equal(canonicalJson({ b: [2, { d: 1, c: undefined }], a: 'x' }), '{"a":"x","b":[2,{"d":1}]}');
});
