// The tunnel benchmark's output: the table, the ratios of Lifeline to ssh -R, the targets, and the
// same as JSON in bench/results/tunnel.json.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import { formatTable, round, type LatencySummary } from './stats.js';

export const legNames = ['direct', 'stunnel', 'ssh -R', 'ssh -R nodelay', 'lifeline'] as const;
export type LegName = (typeof legNames)[number];

export interface LegResult {
  throughputBitsPerSecond?: number;
  setup?: LatencySummary;
  roundTrip?: LatencySummary;
  error?: string;
}

export type Results = Partial<Record<LegName, LegResult>>;

export interface BenchParams {
  iperfSeconds: number;
  setupSessions: number;
  roundTrips: number;
  roundTripBytes: number;
  roundTripWarmup: number;
}

const gbit = (bps: number | undefined): string => (bps === undefined ? '-' : (bps / 1e9).toFixed(2));
const ms = (value: number | undefined): string => (value === undefined ? '-' : value.toFixed(3));
const times = (value: number | undefined): string => (value === undefined ? '-' : `${value.toFixed(2)}x`);

function ratio(numerator: number | undefined, denominator: number | undefined): number | undefined {
  return numerator === undefined || denominator === undefined || denominator === 0
    ? undefined
    : round(numerator / denominator, 3);
}

function ratiosAgainst(ours: LegResult | undefined, base: LegResult | undefined) {
  return {
    throughput: ratio(ours?.throughputBitsPerSecond, base?.throughputBitsPerSecond),
    setupP50: ratio(ours?.setup?.p50Ms, base?.setup?.p50Ms),
    roundTripP50: ratio(ours?.roundTrip?.p50Ms, base?.roundTrip?.p50Ms),
  };
}

/** Prints the results and writes them as JSON; returns the process exit code (1 if a leg failed). */
export function reportResults(results: Results, params: BenchParams, jsonPath: string): number {
  const legs = legNames.filter((leg) => results[leg] !== undefined);
  const cells = (pick: (result: LegResult) => string): string[] =>
    legs.map((leg) => {
      const result = results[leg] ?? {};
      return result.error !== undefined ? 'failed' : pick(result);
    });
  console.log('\nLifeline tunnel benchmark (loopback)\n');
  console.log(
    formatTable(
      ['', ...legs],
      [
        ['throughput Gbit/s', ...cells((r) => gbit(r.throughputBitsPerSecond))],
        [`set-up p50 ms (n=${params.setupSessions})`, ...cells((r) => ms(r.setup?.p50Ms))],
        ['set-up p99 ms', ...cells((r) => ms(r.setup?.p99Ms))],
        [`round trip p50 ms (n=${params.roundTrips})`, ...cells((r) => ms(r.roundTrip?.p50Ms))],
        ['round trip p99 ms', ...cells((r) => ms(r.roundTrip?.p99Ms))],
      ],
    ),
  );

  const ours = results.lifeline;
  const vsSsh = ratiosAgainst(ours, results['ssh -R']);
  const vsSshNoDelay = ratiosAgainst(ours, results['ssh -R nodelay']);
  console.log('\nLifeline / baseline         ssh -R  ssh -R nodelay');
  console.log(
    `  throughput            ${times(vsSsh.throughput).padStart(10)}  ${times(vsSshNoDelay.throughput).padStart(14)}`,
  );
  console.log(
    `  set-up p50            ${times(vsSsh.setupP50).padStart(10)}  ${times(vsSshNoDelay.setupP50).padStart(14)}`,
  );
  console.log(
    `  round trip p50        ${times(vsSsh.roundTripP50).padStart(10)}  ${times(vsSshNoDelay.roundTripP50).padStart(14)}`,
  );

  const setupP50 = ours?.setup?.p50Ms;
  const targets = [
    {
      name: 'throughput >= 1.0x ssh -R',
      shown: times(vsSsh.throughput),
      met: check(vsSsh.throughput, (v) => v >= 1),
    },
    { name: 'set-up p50 <= 5 ms', shown: `${ms(setupP50)} ms`, met: check(setupP50, (v) => v <= 5) },
    {
      name: 'round trip p50 <= ssh -R',
      shown: times(vsSsh.roundTripP50),
      met: check(vsSsh.roundTripP50, (v) => v <= 1),
    },
  ];
  console.log('\nTargets');
  for (const target of targets) {
    const verdict = target.met === null ? 'not measured' : target.met ? 'met' : 'MISSED';
    console.log(`  ${target.name.padEnd(28)} ${target.shown.padStart(10)}  ${verdict}`);
  }
  const failed = legs.filter((leg) => results[leg]?.error !== undefined);
  for (const leg of failed) console.log(`\n${leg} leg failed:\n${results[leg]?.error ?? ''}`);

  const environment = { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown' };
  const json = {
    measuredAt: new Date().toISOString(),
    environment,
    params,
    results,
    ratios: { lifelineVsSsh: vsSsh, lifelineVsSshNoDelay: vsSshNoDelay },
    targets,
  };
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(jsonPath, JSON.stringify(json, null, 2) + '\n');
  console.log(`\nJSON: ${jsonPath}`);
  return failed.length === 0 ? 0 : 1;
}

function check(value: number | undefined, ok: (value: number) => boolean): boolean | null {
  return value === undefined ? null : ok(value);
}
