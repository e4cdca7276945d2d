// Loopback ports for the benchmark: free ones to listen on, and waiting until a port listens.
// Waiting reads the kernel's socket table instead of connecting, because a probe connection would
// use up a one-shot iperf3 server (`-s -1`) or open a tunnel session that skews the figures.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A port the kernel had free a moment ago (bind to 0, read it, close). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port from listen(0)');
  return address.port;
}

/** Distinct free ports: each is held open until all are picked, so none repeats. */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let attempt = 0; ports.size < count && attempt < count * 10; attempt++) ports.add(await freePort());
  if (ports.size < count) throw new Error(`found only ${ports.size} of ${count} free ports`);
  return [...ports];
}

const listenState = '0A';

/** Whether some socket listens on the TCP port (IPv4 or IPv6), from /proc/net/tcp{,6}. */
export function isListening(port: number): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[3] === listenState && fields[1]?.endsWith(`:${hexPort}`)) return true;
    }
  }
  return false;
}

export interface WaitOptions {
  timeoutMs: number;
  /** Checked on every poll: throw from here to stop waiting early (e.g. the server exited). */
  check?: () => void;
}

/** Polls until the port listens; throws after timeoutMs. */
export async function waitForListen(port: number, what: string, options: WaitOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline) {
    options.check?.();
    if (isListening(port)) return;
    await sleep(20);
  }
  throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${options.timeoutMs} ms`);
}

/** Polls an async condition until it is true; throws after timeoutMs. */
export async function waitUntil(
  condition: () => Promise<boolean>,
  what: string,
  options: WaitOptions & { intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline) {
    options.check?.();
    if (await condition()) return;
    await sleep(options.intervalMs ?? 100);
  }
  throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}`);
}
