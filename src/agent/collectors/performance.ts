// The host's performance samples: every interval, one reading of /proc turned into rates against
// the previous one, batched into a performance report of N samples. Samples of managed systems
// come through the admin API and go out as they come.

import type { PerformancePayload, PerformanceSample } from '../../protocol/index.js';
import { readTextFile, type ReadText } from './inventory.js';
import {
  parseDiskstats,
  parseLoadavg,
  parseMeminfo,
  parseNetDev,
  parseProcStat,
  ratesBetween,
  type ProcReading,
} from './proc-stats.js';

/** The wire allows 64 interfaces and 64 disks per sample; a host with more reports the busiest. */
const maxDevices = 64;

export function readProc(atMs: number, read: ReadText = readTextFile): ProcReading {
  return {
    atMs,
    cpu: parseProcStat(read('/proc/stat') ?? ''),
    interfaces: parseNetDev(read('/proc/net/dev') ?? ''),
    disks: parseDiskstats(read('/proc/diskstats') ?? ''),
  };
}

const recentSamplesKept = 288;

export class HostSampler {
  readonly #read: ReadText;
  readonly #samplesPerReport: number;
  #previous: ProcReading | undefined;
  #batch: PerformanceSample[] = [];
  /** The latest samples, sent or not, for the Diagnostics page's chart. */
  readonly #recent: PerformanceSample[] = [];

  constructor(options: { samplesPerReport: number; read?: ReadText }) {
    this.#read = options.read ?? readTextFile;
    this.#samplesPerReport = options.samplesPerReport;
  }

  /** The first call only takes the baseline reading: a rate needs two. */
  sample(nowMs: number): PerformanceSample | undefined {
    const reading = readProc(nowMs, this.#read);
    const previous = this.#previous;
    this.#previous = reading;
    if (!previous || reading.atMs <= previous.atMs) return undefined;
    const rates = ratesBetween(previous, reading);
    const load = parseLoadavg(this.#read('/proc/loadavg') ?? '');
    const memory = parseMeminfo(this.#read('/proc/meminfo') ?? '');
    const busiest = <T>(list: T[], weight: (item: T) => number): T[] =>
      list.length <= maxDevices ? list : [...list].sort((a, b) => weight(b) - weight(a)).slice(0, maxDevices);
    const sample: PerformanceSample = {
      atMs: nowMs,
      spanMs: rates.spanMs,
      ...(rates.cpu ? { cpu: rates.cpu } : {}),
      ...(load ? { load } : {}),
      ...(memory ? { memory } : {}),
      network: busiest(rates.network, (n) => n.rxBytesPerSec + n.txBytesPerSec),
      disks: busiest(rates.disks, (d) => d.readBytesPerSec + d.writeBytesPerSec),
    };
    this.#batch.push(sample);
    this.#recent.push(sample);
    if (this.#recent.length > recentSamplesKept) this.#recent.shift();
    return sample;
  }

  /** The last samples taken (at most a day's worth at the default 5-minute interval), oldest first. */
  recent(): readonly PerformanceSample[] {
    return [...this.#recent];
  }

  /** A full batch as a report payload (and the batch starts over); undefined while not full. */
  takeFullBatch(): PerformancePayload | undefined {
    return this.#batch.length >= this.#samplesPerReport ? this.takeBatch() : undefined;
  }

  /** Whatever is batched, full or not (at shutdown); undefined when empty. */
  takeBatch(): PerformancePayload | undefined {
    if (this.#batch.length === 0) return undefined;
    const samples = this.#batch;
    this.#batch = [];
    return { source: 'host', samples };
  }
}
