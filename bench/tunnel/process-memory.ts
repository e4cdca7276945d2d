// A process's memory as the benchmarks read it: RSS from /proc, and any reading sampled once a
// second with the median kept, to smooth the swings of garbage collection.

import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Resident set size of a process in KiB (VmRSS in /proc/PID/status). */
export function rssKiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match?.[1] === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]);
}

export interface SettledReading {
  median: number;
  samples: number[];
}

/** `read` once a second for `seconds` (at least one sample); the median and every sample. */
export async function settledReading(
  seconds: number,
  read: () => number | Promise<number>,
): Promise<SettledReading> {
  const samples: number[] = [];
  for (let i = 0; i < Math.max(1, seconds); i++) {
    await sleep(1_000);
    samples.push(await read());
  }
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN, samples };
}
