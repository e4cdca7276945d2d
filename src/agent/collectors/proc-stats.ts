// Parsers of the Linux /proc files the agent samples (stat, meminfo, net/dev, diskstats, loadavg,
// uptime), and the arithmetic that turns two readings into rates. Pure: text in, numbers out, so
// they are tested with fixtures; reading the files is performance.ts's business.

export interface CpuTimes {
  /** Jiffies spent busy (everything but idle and iowait). */
  busy: number;
  total: number;
  /** Processors: the number of cpuN lines. */
  count: number;
}

export interface InterfaceCounters {
  name: string;
  rxBytes: number;
  txBytes: number;
}

export interface DiskCounters {
  name: string;
  reads: number;
  sectorsRead: number;
  writes: number;
  sectorsWritten: number;
}

export interface LoadAverage {
  one: number;
  five: number;
  fifteen: number;
}

export interface MemoryFigures {
  totalBytes: number;
  usedBytes: number;
}

/** Everything sampled at one instant. */
export interface ProcReading {
  atMs: number;
  cpu: CpuTimes | undefined;
  interfaces: InterfaceCounters[];
  disks: DiskCounters[];
}

const numbersOf = (fields: string[]): number[] => fields.map((f) => Number(f));

/** /proc/stat: the aggregate `cpu` line and the count of `cpuN` lines. */
export function parseProcStat(text: string): CpuTimes | undefined {
  let times: number[] | undefined;
  let count = 0;
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const [label, ...rest] = fields;
    if (label === 'cpu') times = numbersOf(rest);
    else if (label && /^cpu\d+$/.test(label)) count += 1;
  }
  if (!times || times.length < 4 || times.some((n) => !Number.isFinite(n))) return undefined;
  // user nice system idle iowait irq softirq steal guest guest_nice: guest time is already
  // counted in user and nice, so only the first eight make up the total.
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = times;
  const total = user + nice + system + idle + iowait + irq + softirq + steal;
  return { busy: total - idle - iowait, total, count: Math.max(count, 1) };
}

/** /proc/meminfo: used is total minus available (MemAvailable; MemFree+Buffers+Cached on old kernels). */
export function parseMeminfo(text: string): MemoryFigures | undefined {
  const kib = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^(\w+(?:\(\w+\))?):\s+(\d+)(?:\s+kB)?\s*$/.exec(line.trim());
    if (match?.[1] && match[2]) kib.set(match[1], Number(match[2]));
  }
  const total = kib.get('MemTotal');
  if (total === undefined) return undefined;
  const available =
    kib.get('MemAvailable') ??
    (kib.get('MemFree') ?? 0) + (kib.get('Buffers') ?? 0) + (kib.get('Cached') ?? 0);
  return { totalBytes: total * 1024, usedBytes: Math.max(0, total - available) * 1024 };
}

/** /proc/net/dev: bytes received and sent per interface (loopback left out). */
export function parseNetDev(text: string): InterfaceCounters[] {
  const result: InterfaceCounters[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    // The two header lines have a '|' and no interface name before a colon.
    if (!name || name.includes('|') || name === 'lo') continue;
    const fields = numbersOf(
      line
        .slice(colon + 1)
        .trim()
        .split(/\s+/),
    );
    // Eight receive columns, then eight transmit columns: bytes come first in each group.
    const rxBytes = fields[0];
    const txBytes = fields[8];
    if (rxBytes === undefined || txBytes === undefined || !Number.isFinite(rxBytes + txBytes)) continue;
    result.push({ name, rxBytes, txBytes });
  }
  return result;
}

/** Partitions, loop and RAM devices are not disks of their own: their I/O is counted on the disk. */
export function isWholeDisk(name: string): boolean {
  if (/^(loop|ram|zram|fd|sr)\d*/.test(name)) return false;
  if (/^(sd|vd|xvd|hd)[a-z]+\d+$/.test(name)) return false;
  if (/^(nvme\d+n\d+|mmcblk\d+)p\d+$/.test(name)) return false;
  return true;
}

/** /proc/diskstats: reads, sectors read, writes, sectors written per whole disk. */
export function parseDiskstats(text: string): DiskCounters[] {
  const result: DiskCounters[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    // major minor name, then at least 11 counters (14 or more on recent kernels).
    if (fields.length < 14) continue;
    const name = fields[2] ?? '';
    if (!isWholeDisk(name)) continue;
    const [reads, , sectorsRead, , writes, , sectorsWritten] = numbersOf(fields.slice(3, 10));
    if (
      reads === undefined ||
      sectorsRead === undefined ||
      writes === undefined ||
      sectorsWritten === undefined ||
      !Number.isFinite(reads + sectorsRead + writes + sectorsWritten)
    )
      continue;
    result.push({ name, reads, sectorsRead, writes, sectorsWritten });
  }
  return result;
}

/** /proc/loadavg: "0.52 0.58 0.59 2/415 12345". */
export function parseLoadavg(text: string): LoadAverage | undefined {
  const [one, five, fifteen] = numbersOf(text.trim().split(/\s+/).slice(0, 3));
  if (one === undefined || five === undefined || fifteen === undefined) return undefined;
  if (![one, five, fifteen].every((n) => Number.isFinite(n) && n >= 0)) return undefined;
  return { one, five, fifteen };
}

/** /proc/uptime: seconds since boot (the first number). */
export function parseUptime(text: string): number | undefined {
  const first = text.trim().split(/\s+/)[0] ?? '';
  const seconds = first === '' ? Number.NaN : Number(first);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : undefined;
}

/** diskstats counts 512-byte sectors whatever the device's own sector size. */
const sectorBytes = 512;

export interface Rates {
  spanMs: number;
  cpu: { utilizationPct: number; count: number } | undefined;
  network: { name: string; rxBytesPerSec: number; txBytesPerSec: number }[];
  disks: {
    name: string;
    readBytesPerSec: number;
    writeBytesPerSec: number;
    readIops: number;
    writeIops: number;
  }[];
}

/**
 * Rates between two readings. A counter that went backwards (a wrap, a device re-added, a reboot)
 * gives no rate rather than a negative or huge one; so does a device present in one reading only.
 */
export function ratesBetween(before: ProcReading, after: ProcReading): Rates {
  const spanMs = Math.max(1, after.atMs - before.atMs);
  const perSecond = (from: number, to: number): number | undefined =>
    to >= from ? round2(((to - from) * 1000) / spanMs) : undefined;
  let cpu: Rates['cpu'];
  if (before.cpu && after.cpu) {
    const total = after.cpu.total - before.cpu.total;
    const busy = after.cpu.busy - before.cpu.busy;
    if (total > 0 && busy >= 0)
      cpu = { utilizationPct: round2(Math.min(100, (busy / total) * 100)), count: after.cpu.count };
  }
  const network: Rates['network'] = [];
  for (const now of after.interfaces) {
    const then = before.interfaces.find((i) => i.name === now.name);
    if (!then) continue;
    const rx = perSecond(then.rxBytes, now.rxBytes);
    const tx = perSecond(then.txBytes, now.txBytes);
    if (rx !== undefined && tx !== undefined)
      network.push({ name: now.name, rxBytesPerSec: rx, txBytesPerSec: tx });
  }
  const disks: Rates['disks'] = [];
  for (const now of after.disks) {
    const then = before.disks.find((d) => d.name === now.name);
    if (!then) continue;
    const read = perSecond(then.sectorsRead * sectorBytes, now.sectorsRead * sectorBytes);
    const written = perSecond(then.sectorsWritten * sectorBytes, now.sectorsWritten * sectorBytes);
    const reads = perSecond(then.reads, now.reads);
    const writes = perSecond(then.writes, now.writes);
    if (read === undefined || written === undefined || reads === undefined || writes === undefined) continue;
    disks.push({
      name: now.name,
      readBytesPerSec: read,
      writeBytesPerSec: written,
      readIops: reads,
      writeIops: writes,
    });
  }
  return { spanMs, cpu, network, disks };
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
