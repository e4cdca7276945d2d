import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  isWholeDisk,
  parseDiskstats,
  parseLoadavg,
  parseMeminfo,
  parseNetDev,
  parseProcStat,
  parseUptime,
  ratesBetween,
  type ProcReading,
} from './proc-stats.js';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8');

function reading(atMs: number, n: 1 | 2): ProcReading {
  return {
    atMs,
    cpu: parseProcStat(fixture(`stat-${n}.txt`)),
    interfaces: parseNetDev(fixture(`net-dev-${n}.txt`)),
    disks: parseDiskstats(fixture(`diskstats-${n}.txt`)),
  };
}

test('/proc/stat: busy and total jiffies of the cpu line, guest time not counted twice; processor count', () => {
  assert.deepEqual(parseProcStat(fixture('stat-1.txt')), {
    busy: 20664 + 5615 + 202 + 161,
    total: 20664 + 5615 + 371461 + 633 + 202 + 161,
    count: 2,
  });
  assert.equal(parseProcStat('intr 1 2 3\n'), undefined);
  assert.equal(parseProcStat('cpu  1 x 3 4\n'), undefined);
  // A kernel of old with only user nice system idle.
  assert.deepEqual(parseProcStat('cpu 10 0 10 80\n'), { busy: 20, total: 100, count: 1 });
});

test('/proc/meminfo: used is total minus available, in bytes; old kernels without MemAvailable', () => {
  assert.deepEqual(parseMeminfo(fixture('meminfo.txt')), {
    totalBytes: 24684092 * 1024,
    usedBytes: (24684092 - 24095080) * 1024,
  });
  assert.deepEqual(parseMeminfo(fixture('meminfo-2.6.txt')), {
    totalBytes: 2048000 * 1024,
    usedBytes: (2048000 - 512000 - 128000 - 256000) * 1024,
  });
  assert.equal(parseMeminfo('MemFree: 1 kB\n'), undefined);
});

test('/proc/net/dev: rx and tx bytes per interface, headers and loopback skipped, no space after the colon', () => {
  assert.deepEqual(parseNetDev(fixture('net-dev-1.txt')), [
    { name: 'eth0', rxBytes: 110806196, txBytes: 501355 },
    { name: 'eth1', rxBytes: 4294967000, txBytes: 1000 },
  ]);
  assert.deepEqual(parseNetDev(''), []);
  assert.deepEqual(parseNetDev('eth9: 1 2 3\n'), []);
});

test('/proc/diskstats: whole disks only, 14-field and 18-field lines', () => {
  const disks = parseDiskstats(fixture('diskstats-1.txt'));
  assert.deepEqual(
    disks.map((d) => d.name),
    ['vda', 'nvme0n1', 'dm-0'],
  );
  assert.deepEqual(disks[0], {
    name: 'vda',
    reads: 45609,
    sectorsRead: 2541322,
    writes: 109410,
    sectorsWritten: 3466984,
  });
  for (const name of ['sda', 'vdb', 'xvda', 'nvme1n1', 'mmcblk0', 'dm-3', 'md0'])
    assert.ok(isWholeDisk(name), name);
  for (const name of ['sda1', 'vdb12', 'nvme0n1p2', 'mmcblk0p1', 'loop3', 'ram0', 'zram0', 'sr0'])
    assert.ok(!isWholeDisk(name), name);
  assert.deepEqual(parseDiskstats('8 0 sda 1 2 3\n'), []);
});

test('/proc/loadavg and /proc/uptime', () => {
  assert.deepEqual(parseLoadavg(fixture('loadavg.txt')), { one: 0.54, five: 0.41, fifteen: 0.2 });
  assert.equal(parseLoadavg('0.5 abc 1'), undefined);
  assert.equal(parseLoadavg(''), undefined);
  assert.equal(parseUptime(fixture('uptime.txt')), 2005.27);
  assert.equal(parseUptime('-1 2'), undefined);
  assert.equal(parseUptime(''), undefined);
});

test('rates between two readings 10 s apart; wrapped counters and new devices give no rate', () => {
  const rates = ratesBetween(reading(0, 1), reading(10_000, 2));
  assert.equal(rates.spanMs, 10_000);
  assert.deepEqual(rates.cpu, { utilizationPct: 25, count: 2 });
  // eth1 wrapped and bond0 is new: neither has a rate.
  assert.deepEqual(rates.network, [{ name: 'eth0', rxBytesPerSec: 100_000, txBytesPerSec: 5000 }]);
  // dm-0's counters went backwards (the device was re-created): left out.
  assert.deepEqual(rates.disks, [
    { name: 'vda', readBytesPerSec: 104_857.6, writeBytesPerSec: 209_715.2, readIops: 10, writeIops: 30 },
    { name: 'nvme0n1', readBytesPerSec: 0, writeBytesPerSec: 0, readIops: 0, writeIops: 0 },
  ]);
});

test('no cpu figure when a reading lacks it or no time passed on the cpu counters', () => {
  const first = reading(0, 1);
  assert.equal(ratesBetween(first, { ...first, atMs: 1000 }).cpu, undefined);
  assert.equal(ratesBetween({ ...first, cpu: undefined }, reading(1000, 2)).cpu, undefined);
});
