// The echo target and the two latency probes that go through it: the set-up time of a new session
// (connect until a 1-byte echo returns) and the round trip of small messages on one connection.

import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface EchoServer {
  port: number;
  close(): Promise<void>;
}

export async function startEchoServer(): Promise<EchoServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('echo server has no port');
  return {
    port: address.port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Rejects if `promise` has not settled within timeoutMs, so no probe can hang the benchmark. */
async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once `byteCount` bytes have arrived on the socket (counting from now). */
function receive(socket: Socket, byteCount: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let received = 0;
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received < byteCount) return;
      detach();
      resolve();
    };
    const onClose = (): void => {
      detach();
      reject(new Error(`connection closed after ${received} of ${byteCount} bytes`));
    };
    const detach = (): void => {
      socket.off('data', onData);
      socket.off('error', onClose);
      socket.off('close', onClose);
    };
    socket.on('data', onData);
    socket.once('error', onClose);
    socket.once('close', onClose);
  });
}

const probeTimeoutMs = 10_000;
const ignore = (): void => {};

/** One new connection: ms from connect() until one byte has gone to the echo target and back. */
export async function measureSetupOnce(port: number): Promise<number> {
  const started = performance.now();
  const socket = connect({ host: '127.0.0.1', port, noDelay: true });
  // Errors also close the socket, which the waits below turn into a rejection.
  socket.on('error', ignore);
  try {
    await withTimeout(
      (async () => {
        await once(socket, 'connect');
        const echoed = receive(socket, 1);
        socket.write(Buffer.of(0x2a));
        await echoed;
      })(),
      probeTimeoutMs,
      'session set-up',
    );
    return performance.now() - started;
  } finally {
    socket.destroy();
    if (!socket.closed) await once(socket, 'close');
  }
}

/** `count` set-ups one after another (each on a new connection); ms each. */
export async function measureSetups(port: number, count: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) samples.push(await measureSetupOnce(port));
  return samples;
}

/** On one connection: `warmup` uncounted round trips, then `count` round trips of `size` bytes; ms each. */
export async function measureRoundTrips(
  port: number,
  options: { count: number; size: number; warmup: number },
): Promise<number[]> {
  const socket = connect({ host: '127.0.0.1', port, noDelay: true });
  // Errors also close the socket, which the waits below turn into a rejection.
  socket.on('error', ignore);
  const message = Buffer.alloc(options.size, 0x61);
  const samples: number[] = [];
  try {
    await withTimeout(once(socket, 'connect'), probeTimeoutMs, 'connect');
    for (let i = 0; i < options.warmup + options.count; i++) {
      const started = performance.now();
      const echoed = receive(socket, options.size);
      socket.write(message);
      await withTimeout(echoed, probeTimeoutMs, 'round trip');
      if (i >= options.warmup) samples.push(performance.now() - started);
    }
    return samples;
  } finally {
    socket.destroy();
  }
}
