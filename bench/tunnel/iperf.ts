// One iperf3 throughput test: a one-shot server (`-s -1`) on the target port, and a client that
// sends through whatever listens on the entry port (the target itself, or a tunnel in front of it).

import { waitForListen } from './ports.js';
import { runCommand, type ProcessGroup } from './processes.js';

export interface IperfTest {
  /** Where the iperf3 server listens (the tunnel's target). */
  serverPort: number;
  /** Where the client connects (the tunnel's entry, or serverPort for direct TCP). */
  entryPort: number;
  seconds: number;
}

/** Bits per second received by the server, from the client's JSON report. */
export async function measureIperf(group: ProcessGroup, test: IperfTest): Promise<number> {
  const server = group.start('iperf3 server', 'iperf3', [
    '-s',
    '-1',
    '-B',
    '127.0.0.1',
    '-p',
    String(test.serverPort),
  ]);
  await waitForListen(test.serverPort, 'iperf3 server', {
    timeoutMs: 5_000,
    check: () => server.assertRunning(),
  });
  const json = await runCommand(
    'iperf3',
    ['-c', '127.0.0.1', '-p', String(test.entryPort), '-t', String(test.seconds), '-J'],
    { timeoutMs: (test.seconds + 30) * 1_000 },
  );
  const bitsPerSecond = parseReceivedBitsPerSecond(json);
  await server.stop();
  return bitsPerSecond;
}

export function parseReceivedBitsPerSecond(json: string): number {
  const report = JSON.parse(json) as {
    error?: string;
    end?: { sum_received?: { bits_per_second?: unknown } };
  };
  if (typeof report.error === 'string') throw new Error(`iperf3: ${report.error}`);
  const value = report.end?.sum_received?.bits_per_second;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new Error('iperf3 JSON has no end.sum_received.bits_per_second');
  }
  return value;
}
