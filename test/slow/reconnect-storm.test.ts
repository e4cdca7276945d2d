// A reconnect storm: 1,000 agents (real tunnel clients in 4 processes, each with its own station
// certificate) connect to a real hub, the hub restarts, and all of them come back. The hub must
// never admit more new tunnels in any one-second window than hub.yaml `admission.tunnelsPerSecond`
// (measured from the hub's own log of its decisions), and no agent may dial again sooner than its
// backoff or the hub's retry-after allows (measured on both sides).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { canConnect, cliPath, Cluster, repoRoot, waitFor } from '../harness/cluster.js';
import { createStormStations } from '../harness/storm-setup.js';
import type { SwarmConfig, SwarmStateEvent } from '../harness/station-swarm.js';

const agentCount = Number(process.env.LIFELINE_STORM_AGENTS ?? 1000);
const swarmCount = 4;
const tunnelsPerSecond = 50;
const reconnectMinMs = 1000;
const reconnectMaxMs = 15_000;
/** How long the hub stays down between its stop and its start again. */
const hubOutageMs = 15_000;
/** All agents back within this, counted from the moment the hub listens again. */
const reconnectBoundMs = 150_000;
/** Timers may fire a little early relative to Date.now (monotonic vs wall clock, rounding). */
const timerSlackMs = 5;
/** How far an event's time may lag the agent's own reading of the clock (a GC pause, a busy core). */
const ceilingToleranceMs = 250;

/** Raises the open-file limit of a child when it is low: each tunnel is a socket on both sides. */
function spawnWithFiles(args: string[], stdout: number | 'pipe'): ChildProcess {
  const script =
    'n=$(ulimit -n); if [ "$n" != unlimited ] && [ "$n" -lt 4096 ]; then ulimit -n 4096; fi; exec "$@"';
  return spawn('bash', ['-c', script, 'bash', process.execPath, ...args], {
    cwd: repoRoot,
    stdio: ['ignore', stdout, 'pipe'],
  });
}

function exited(child: ChildProcess): Promise<number> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? 128);
  return new Promise((done) => child.once('close', (code) => done(code ?? 128)));
}

async function stop(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<number> {
  if (!child) return 0;
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await exited(child);
  clearTimeout(timer);
  return code;
}

interface HubRun {
  child: ChildProcess;
  logFile: string;
}

interface Swarm {
  child: ChildProcess;
  connected: number;
  eventsFile: string;
  stderr: string;
}

/** One admission decision of the hub, from its debug log line `tunnel admission`. */
interface Decision {
  stationId: string;
  admitted: boolean;
  atMs: number;
  retryAfterMs: number | null;
}

function readJsonLines(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function hubDecisions(logFile: string): Decision[] {
  return readJsonLines(logFile)
    .filter((line) => line.msg === 'tunnel admission')
    .map((line) => ({
      stationId: String(line.stationId),
      admitted: line.admitted === true,
      atMs: Number(line.atMs),
      retryAfterMs: typeof line.retryAfterMs === 'number' ? line.retryAfterMs : null,
    }));
}

/** The most times found in any half-open window [t, t + 1000), and where it starts. */
function busiestSecond(sortedMs: readonly number[]): { count: number; startMs: number } {
  let best = { count: 0, startMs: 0 };
  let first = 0;
  for (let last = 0; last < sortedMs.length; last += 1) {
    while ((sortedMs[last] ?? 0) - (sortedMs[first] ?? 0) >= 1000) first += 1;
    if (last - first + 1 > best.count) best = { count: last - first + 1, startMs: sortedMs[first] ?? 0 };
  }
  return best;
}

describe('reconnect storm: 1,000 agents and a hub restart', { timeout: 10 * 60_000 }, () => {
  const cluster = new Cluster();
  const hubRuns: HubRun[] = [];
  const swarms: Swarm[] = [];
  let stationIds: string[] = [];
  const figures: Record<string, number> = {};

  async function startHub(): Promise<HubRun> {
    const logFile = join(cluster.root, `hub-run-${hubRuns.length + 1}.log`);
    const fd = openSync(logFile, 'w');
    const child = spawnWithFiles([cliPath, 'hub', 'start', '--data', cluster.hubDir], fd);
    closeSync(fd);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const run = { child, logFile };
    hubRuns.push(run);
    await waitFor(
      'the hub to listen',
      async () => {
        if (child.exitCode !== null) throw new Error(`hub exited: ${stderr}`);
        return (await canConnect(cluster.stationPort)) ? true : undefined;
      },
      30_000,
    );
    return run;
  }

  function connectedCount(): number {
    return swarms.reduce((sum, swarm) => sum + swarm.connected, 0);
  }

  /** Waits (bounded) until every agent reports a tunnel; fails at once if a swarm process died. */
  async function allConnected(what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (connectedCount() < agentCount) {
      const dead = swarms.find((swarm) => swarm.child.exitCode !== null || swarm.child.signalCode !== null);
      if (dead) throw new Error(`a swarm process exited while waiting for ${what}: ${dead.stderr}`);
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}: ${connectedCount()} of ${agentCount} connected`);
      }
      await new Promise((done) => setTimeout(done, 250));
    }
  }

  before(async () => {
    await cluster.initHub();
    const configPath = join(cluster.hubDir, 'hub.yaml');
    const hubYaml = parseYaml(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
    hubYaml.admission = { tunnelsPerSecond };
    // Debug: the hub logs each admission decision with the time the rate is counted on.
    hubYaml.log = { level: 'debug' };
    writeFileSync(configPath, toYaml(hubYaml));

    const setupStartMs = Date.now();
    const made = await createStormStations(cluster.hubDir, agentCount);
    figures.setupMs = Date.now() - setupStartMs;
    stationIds = made.stations.map((s) => s.stationId);

    await startHub();
    const perSwarm = Math.ceil(agentCount / swarmCount);
    for (let i = 0; i < swarmCount; i += 1) {
      const config: SwarmConfig = {
        endpoint: `127.0.0.1:${cluster.stationPort}`,
        caPem: made.caPem,
        keyPem: made.keyPem,
        stations: made.stations
          .map((station, index) => ({ index, ...station }))
          .slice(i * perSwarm, (i + 1) * perSwarm),
        reconnectMinMs,
        reconnectMaxMs,
        eventsFile: join(cluster.root, `swarm-${i}.ndjson`),
      };
      const configFile = join(cluster.root, `swarm-${i}.json`);
      writeFileSync(configFile, JSON.stringify(config));
      const child = spawnWithFiles(
        ['--import', 'tsx', join(repoRoot, 'test', 'harness', 'station-swarm.ts'), configFile],
        'pipe',
      );
      const swarm: Swarm = { child, connected: 0, eventsFile: config.eventsFile, stderr: '' };
      child.stderr?.on(
        'data',
        (chunk: Buffer) => (swarm.stderr = (swarm.stderr + chunk.toString()).slice(-20_000)),
      );
      if (child.stdout) {
        createInterface({ input: child.stdout }).on('line', (line) => {
          const progress = JSON.parse(line) as { connected: number };
          swarm.connected = progress.connected;
        });
      }
      swarms.push(swarm);
    }
  });

  after(async () => {
    process.stderr.write(`reconnect storm figures: ${JSON.stringify(figures)}\n`);
    await Promise.all(swarms.map((swarm) => stop(swarm.child, 'SIGKILL')));
    await Promise.all(hubRuns.map((run) => stop(run.child)));
    if (process.env.LIFELINE_STORM_KEEP) process.stderr.write(`storm files kept in ${cluster.root}\n`);
    else rmSync(cluster.root, { recursive: true, force: true });
  });

  test('all agents connect', async () => {
    const startMs = Date.now();
    await allConnected(`all ${agentCount} tunnels up`, reconnectBoundMs);
    figures.firstConnectMs = Date.now() - startMs;
  });

  test('after a hub restart on the same ports, every agent is back within the bound', async () => {
    const first = hubRuns[0];
    assert.ok(first);
    const stopStartMs = Date.now();
    assert.equal(await stop(first.child), 0, 'the hub stops cleanly on SIGTERM with 1,000 tunnels');
    figures.hubStopMs = Date.now() - stopStartMs;
    await waitFor(
      'every agent to see the hub gone',
      () => (connectedCount() === 0 ? true : undefined),
      30_000,
    );
    // The draining hub sent its agents away with a hint of at most 5 s, which they wait at most
    // twice over; down for longer, the hub is an outage they ride out with their own backoff (its
    // full jitter is measured in the last test).
    await new Promise((resolve) => setTimeout(resolve, hubOutageMs));
    await startHub();
    const backMs = Date.now();
    figures.hubDownMs = backMs - stopStartMs;
    await allConnected(`all ${agentCount} tunnels back`, reconnectBoundMs);
    figures.reconnectMs = Date.now() - backMs;
  });

  test('the hub never admitted more than its rate in any one-second window', () => {
    for (const [n, run] of hubRuns.entries()) {
      const decisions = hubDecisions(run.logFile);
      const admitted = decisions.filter((d) => d.admitted);
      const refused = decisions.filter((d) => !d.admitted);
      figures[`run${n + 1}Admitted`] = admitted.length;
      figures[`run${n + 1}Refused`] = refused.length;
      const busiest = busiestSecond(admitted.map((d) => d.atMs).sort((a, b) => a - b));
      figures[`run${n + 1}BusiestSecond`] = busiest.count;
      assert.ok(
        busiest.count <= tunnelsPerSecond,
        `hub run ${n + 1}: ${busiest.count} admissions in the second from ${new Date(busiest.startMs).toISOString()}`,
      );
      // Every station was admitted in this run (and the rate was really reached: a storm happened).
      const admittedStations = new Set(admitted.map((d) => d.stationId));
      assert.deepEqual(
        stationIds.filter((id) => !admittedStations.has(id)),
        [],
        `hub run ${n + 1}: stations never admitted`,
      );
      assert.equal(busiest.count, tunnelsPerSecond, `hub run ${n + 1}: the storm reached the rate`);
      assert.ok(refused.length > 0, `hub run ${n + 1}: some stations were told to retry later`);
      for (const d of refused) {
        assert.ok(d.retryAfterMs !== null && d.retryAfterMs >= 1000 && d.retryAfterMs <= 60_000);
      }
    }
  });

  test('the hub saw no station dial again before the retry-after it was given', () => {
    let checked = 0;
    for (const [n, run] of hubRuns.entries()) {
      const byStation = new Map<string, Decision[]>();
      for (const d of hubDecisions(run.logFile)) {
        const list = byStation.get(d.stationId) ?? [];
        list.push(d);
        byStation.set(d.stationId, list);
      }
      for (const [stationId, decisions] of byStation) {
        for (let i = 1; i < decisions.length; i += 1) {
          const before = decisions[i - 1];
          const next = decisions[i];
          if (!before || !next || before.admitted || before.retryAfterMs === null) continue;
          checked += 1;
          const gapMs = next.atMs - before.atMs;
          assert.ok(
            gapMs >= before.retryAfterMs,
            `hub run ${n + 1}: ${stationId} came back ${gapMs} ms after being told to wait ${before.retryAfterMs} ms`,
          );
        }
      }
    }
    figures.retryAfterGapsCheckedAtHub = checked;
    assert.ok(checked > 0);
  });

  test('no agent dialled sooner than its backoff or the retry-after allowed', async () => {
    // Stop the swarms first: their events files are complete once they exit.
    await Promise.all(swarms.map((swarm) => stop(swarm.child)));
    const problems = {
      earlyDials: [] as string[],
      shortRetries: [] as string[],
      overCeiling: [] as string[],
    };
    const tunnelsLost: string[] = [];
    const jitterRatios: number[] = [];
    let retryLaterWaits = 0;
    for (const swarm of swarms) {
      const byAgent = new Map<number, Record<string, unknown>[]>();
      for (const line of readJsonLines(swarm.eventsFile)) {
        const agent = Number(line.agent);
        const list = byAgent.get(agent) ?? [];
        list.push(line);
        byAgent.set(agent, list);
      }
      for (const [agent, events] of byAgent) {
        let outageStartMs: number | undefined;
        let retryLater: { retryAfterMs: number; delayMs: number } | undefined;
        let scheduledMs: number | undefined;
        let previousState = 'disabled';
        for (const line of events) {
          // A hint from the hub: retry later (admission), or go elsewhere (it drains on SIGTERM); with
          // one hub address, the agent waits the hint's time before it dials the same one again.
          if (
            line.msg === 'the hub asked to retry later' ||
            (typeof line.msg === 'string' && line.msg.startsWith('the hub is draining'))
          ) {
            retryLater = { retryAfterMs: Number(line.retryAfterMs), delayMs: Number(line.delayMs) };
            continue;
          }
          if (
            line.msg === 'tunnel lost' &&
            line.reason !== 'the hub closed the tunnel: the hub is shutting down'
          ) {
            tunnelsLost.push(`agent ${agent}: ${String(line.reason)}`);
            continue;
          }
          if (line.kind !== 'state') continue;
          const event = line as unknown as SwarmStateEvent;
          if (event.state === 'connecting' && previousState !== 'connecting') {
            // A dial before the time the agent itself scheduled would be a retry faster than allowed.
            if (scheduledMs !== undefined && event.atMs < scheduledMs - timerSlackMs) {
              problems.earlyDials.push(
                `agent ${agent} dialled at ${event.atMs}, scheduled for ${scheduledMs}`,
              );
            }
            if (previousState !== 'waiting' && previousState !== 'disabled') {
              problems.earlyDials.push(`agent ${agent} dialled again at once after '${previousState}'`);
            }
            scheduledMs = undefined;
          }
          if (event.state === 'connected') outageStartMs = undefined;
          if (event.state === 'waiting' && event.nextAttemptAtMs !== null) {
            // Sent away by the draining hub, the agent waits the hint with its backoff reset: its
            // outage, and the backoff's ceiling, start with the first dial that fails after that.
            const sentAway = event.lastErrorCode === 'HUB_DRAINING';
            if (sentAway) outageStartMs = undefined;
            outageStartMs ??= event.atMs;
            scheduledMs = event.nextAttemptAtMs;
            const delayMs = event.nextAttemptAtMs - event.atMs;
            // The backoff's ceiling: the outage so far, clamped. Measured from event times, which can
            // lag the agent's own clock reading by a pause of the process: hence the tolerance.
            const ceilingMs = Math.min(reconnectMaxMs, Math.max(reconnectMinMs, event.atMs - outageStartMs));
            if (event.lastError?.startsWith('the hub is busy') || event.lastErrorCode === 'HUB_DRAINING') {
              retryLaterWaits += 1;
              if (!retryLater) {
                problems.shortRetries.push(`agent ${agent}: busy without a retry-after`);
              } else {
                // max(own backoff, N + uniform[0, N)): never under N, and over 2N only by the backoff.
                if (retryLater.delayMs < retryLater.retryAfterMs) {
                  problems.shortRetries.push(
                    `agent ${agent} waits ${retryLater.delayMs} ms after retry-after ${retryLater.retryAfterMs}`,
                  );
                }
                if (delayMs > Math.max(ceilingMs, 2 * retryLater.retryAfterMs) + ceilingToleranceMs) {
                  problems.overCeiling.push(
                    `agent ${agent}: ${delayMs} ms after retry-after ${retryLater.retryAfterMs}`,
                  );
                }
              }
            } else {
              if (delayMs > ceilingMs + ceilingToleranceMs) {
                problems.overCeiling.push(`agent ${agent}: ${delayMs} ms with ceiling ${ceilingMs}`);
              }
              jitterRatios.push(Math.min(1, Math.max(0, delayMs / ceilingMs)));
            }
            retryLater = undefined;
            if (sentAway) outageStartMs = undefined;
          }
          previousState = event.state;
        }
      }
    }
    assert.deepEqual(
      { earlyDials: problems.earlyDials.slice(0, 5), shortRetries: problems.shortRetries.slice(0, 5) },
      { earlyDials: [], shortRetries: [] },
      'agents retried faster than allowed',
    );
    assert.deepEqual(problems.overCeiling.slice(0, 5), [], 'waits beyond what the backoff allows');
    assert.deepEqual(tunnelsLost.slice(0, 5), [], 'tunnels lost other than by the hub restart');
    assert.ok(retryLaterWaits > 0, 'agents were told to retry later');
    // Full jitter: the backoff waits are spread uniformly under their ceiling, not bunched at 0.
    const mean = jitterRatios.reduce((a, b) => a + b, 0) / Math.max(1, jitterRatios.length);
    const nearZero = jitterRatios.filter((r) => r < 0.05).length / Math.max(1, jitterRatios.length);
    figures.backoffWaits = jitterRatios.length;
    figures.retryLaterWaits = retryLaterWaits;
    figures.backoffMeanRatioPct = Math.round(mean * 100);
    assert.ok(jitterRatios.length >= 200, `only ${jitterRatios.length} backoff waits`);
    assert.ok(mean > 0.4 && mean < 0.6, `mean wait/ceiling ${mean.toFixed(3)}: not full jitter`);
    assert.ok(nearZero < 0.1, `${(nearZero * 100).toFixed(1)}% of waits under 5% of their ceiling`);
  });
});
