// Tunnel benchmark on loopback: throughput (iperf3), session set-up time and small-message round
// trip of Lifeline against direct TCP, a stunnel TLS pair and OpenSSH `ssh -R`, in one run.
// Usage: npm run -s build && node --import tsx bench/tunnel/run.ts [--seconds 5] [--sessions 200]
//        [--pings 2000] [--skip-lifeline]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { measureRoundTrips, measureSetups, startEchoServer, type EchoServer } from './echo.js';
import { measureIperf } from './iperf.js';
import { repoRoot, setupLifeline, type LifelineTunnel } from './lifeline-setup.js';
import { freePort } from './ports.js';
import { ProcessGroup } from './processes.js';
import { reportResults, type BenchParams, type LegName, type Results } from './report.js';
import { startSshReverse } from './ssh-reverse.js';
import { summarize } from './stats.js';
import { startStunnelPair } from './stunnel.js';

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    sessions: { type: 'string', default: '200' },
    pings: { type: 'string', default: '2000' },
    'skip-lifeline': { type: 'boolean', default: false },
  },
});
const params: BenchParams = {
  iperfSeconds: positiveInt(flags.seconds, '--seconds'),
  setupSessions: positiveInt(flags.sessions, '--sessions'),
  roundTrips: positiveInt(flags.pings, '--pings'),
  roundTripBytes: 64,
  roundTripWarmup: 50,
};

function positiveInt(text: string, name: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer`);
  return value;
}

const group = new ProcessGroup();
const dir = mkdtempSync(join(tmpdir(), 'lifeline-bench-'));
let echo: EchoServer | undefined;
let lifeline: LifelineTunnel<'iperf' | 'echo'> | undefined;
const results: Results = {};

let cleaned: Promise<void> | undefined;
function cleanUp(): Promise<void> {
  cleaned ??= (async () => {
    await lifeline?.close();
    await group.close();
    await echo?.close();
    rmSync(dir, { recursive: true, force: true });
  })();
  return cleaned;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping every process started by the benchmark`);
    void cleanUp().finally(() => process.exit(130));
  });
}

function log(message: string): void {
  console.error(`[bench] ${message}`);
}

async function measureLatencies(leg: LegName, echoPort: number): Promise<void> {
  const result = (results[leg] ??= {});
  log(`${leg}: ${params.setupSessions} session set-ups`);
  result.setup = summarize(await measureSetups(echoPort, params.setupSessions));
  log(`${leg}: ${params.roundTrips} round trips of ${params.roundTripBytes} bytes`);
  const { roundTrips: count, roundTripBytes: size, roundTripWarmup: warmup } = params;
  result.roundTrip = summarize(await measureRoundTrips(echoPort, { count, size, warmup }));
}

async function measureThroughput(leg: LegName, iperfPort: number, entryPort: number): Promise<void> {
  log(`${leg}: iperf3 for ${params.iperfSeconds} s`);
  const bitsPerSecond = await measureIperf(group, {
    serverPort: iperfPort,
    entryPort,
    seconds: params.iperfSeconds,
  });
  (results[leg] ??= {}).throughputBitsPerSecond = bitsPerSecond;
}

async function main(): Promise<number> {
  echo = await startEchoServer();
  const iperfPort = await freePort();
  const targets = { iperf: iperfPort, echo: echo.port };

  await measureThroughput('direct', iperfPort, iperfPort);
  await measureLatencies('direct', echo.port);

  log('starting stunnel pair');
  const stunnel = await startStunnelPair(group, dir, iperfPort);
  await measureThroughput('stunnel', iperfPort, stunnel.entryPort);

  for (const [leg, noDelay] of [
    ['ssh -R', false],
    ['ssh -R nodelay', true],
  ] as const) {
    log(`starting sshd and ${leg}`);
    const ssh = await startSshReverse(group, join(dir, noDelay ? 'ssh-nodelay' : 'ssh'), targets, {
      noDelay,
    });
    await measureThroughput(leg, iperfPort, ssh.forwardPorts.iperf);
    await measureLatencies(leg, ssh.forwardPorts.echo);
  }

  if (!flags['skip-lifeline']) {
    try {
      log('starting Lifeline hub, agent and technician (needs `npm run build` first)');
      lifeline = await setupLifeline(join(dir, 'lifeline'), targets);
      log(`lifeline: station ${lifeline.stationId} connected`);
      await measureThroughput('lifeline', iperfPort, lifeline.forwardPort.iperf);
      await measureLatencies('lifeline', lifeline.forwardPort.echo);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      (results.lifeline ??= {}).error = message;
      log(`lifeline leg failed: ${message}`);
    }
  }
  return reportResults(results, params, join(repoRoot, 'bench', 'results', 'tunnel.json'));
}

try {
  process.exitCode = await main();
} finally {
  await cleanUp();
}
