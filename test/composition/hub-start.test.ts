// Hub.start as a whole: a start that fails half way (a port already taken) rejects with an error
// naming the address, and what it had opened is closed before the error arrives.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../src/common/logger.js';
import { Hub } from '../../src/hub/index.js';
import { initHub } from '../../src/hub/setup/index.js';

const silent = createLogger({ name: 'test', level: 'silent' });

function listen(port = 0): Promise<Server> {
  const server = createServer();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

const portOf = (server: Server) => (server.address() as { port: number }).port;
const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  const server = await listen();
  const port = portOf(server);
  await close(server);
  return port;
}

/** Files under `dir` this process holds open (Linux; elsewhere nothing is known). */
function openFilesUnder(dir: string): string[] {
  if (!existsSync('/proc/self/fd')) return [];
  const open: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dir)) open.push(target);
    } catch {
      // Closed while listed (the listing's own descriptor).
    }
  }
  return open;
}

/** Server handles of this process: a port left listening would be one more. */
const serverHandles = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;

/**
 * The number of server handles once those being closed are gone: a handle closes on a later turn
 * of the event loop (its close callbacks phase), so a few turns are waited, never a time.
 */
async function settledServerHandles(expected: number): Promise<number> {
  for (let turn = 0; turn < 100 && serverHandles() !== expected; turn++)
    await new Promise((resolve) => setImmediate(resolve));
  return serverHandles();
}

describe('a hub start that fails half way', () => {
  let root: string;
  let taken: Server;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'lifeline-hub-start-'));
    taken = await listen();
  });

  after(async () => {
    await close(taken);
    rmSync(root, { recursive: true, force: true });
  });

  test('a technician API port already taken: API_LISTEN_FAILED naming it, and the store is closed again', async () => {
    const dataDir = join(root, 'api-taken');
    const address = `127.0.0.1:${portOf(taken)}`;
    await initHub(dataDir, { listen: `127.0.0.1:${await freePort()}`, apiListen: address });
    const servers = serverHandles();
    await assert.rejects(Hub.start({ dataDir, logger: silent }), {
      code: 'API_LISTEN_FAILED',
      message: `the technician API cannot listen on ${address}: the address is in use (another process listens on it); choose another address with apiListen in hub.yaml`,
    });
    assert.deepEqual(openFilesUnder(dataDir), []);
    assert.equal(await settledServerHandles(servers), servers);
  });

  test('a station port already taken: the technician API it had opened is closed, and the store too', async () => {
    const dataDir = join(root, 'station-taken');
    const apiPort = await freePort();
    const address = `127.0.0.1:${portOf(taken)}`;
    await initHub(dataDir, { listen: address, apiListen: `127.0.0.1:${apiPort}` });
    const servers = serverHandles();
    await assert.rejects(Hub.start({ dataDir, logger: silent }), {
      code: 'API_LISTEN_FAILED',
      message: new RegExp(
        `^the station port cannot listen on ${address}: .*; choose another address with listen in hub\\.yaml$`,
      ),
    });
    assert.deepEqual(openFilesUnder(dataDir), []);
    assert.equal(await settledServerHandles(servers), servers);
    // The port the technician API listened on is free again.
    await close(await listen(apiPort));

    // Nothing of the failed start stands in the way of the next one.
    const hubDir = join(root, 'next');
    await initHub(hubDir, { listen: '127.0.0.1:0', apiListen: `127.0.0.1:${apiPort}` });
    const hub = await Hub.start({ dataDir: hubDir, logger: silent });
    assert.equal(hub.apiPort, apiPort);
    await hub.close();
    assert.deepEqual(openFilesUnder(hubDir), []);
    assert.equal(await settledServerHandles(servers), servers);
  });

  test('a process whose hub failed to start exits by itself: no timer, thread or socket keeps it', async () => {
    const dataDir = join(root, 'child');
    const address = `127.0.0.1:${portOf(taken)}`;
    // The technician API listens before the station port is tried: left open, it would keep the process.
    await initHub(dataDir, { listen: address, apiListen: '127.0.0.1:0' });
    const hubModule = new URL('../../src/hub/index.ts', import.meta.url).href;
    const loggerModule = new URL('../../src/common/logger.ts', import.meta.url).href;
    const script = `
      const { Hub } = await import(${JSON.stringify(hubModule)});
      const { createLogger } = await import(${JSON.stringify(loggerModule)});
      await Hub.start({ dataDir: ${JSON.stringify(dataDir)}, logger: createLogger({ name: 'hub', level: 'silent' }) }).then(
        () => console.log('started'),
        (err) => console.log(err.code, err.message),
      );`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const deadline = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once('exit', (exitCode, exitSignal) => resolve([exitCode, exitSignal])),
    );
    clearTimeout(deadline);
    assert.equal(signal, null, `the process was still running 20 s later; it printed: ${output}`);
    assert.equal(code, 0);
    assert.match(output, new RegExp(`^API_LISTEN_FAILED the station port cannot listen on ${address}: `));
  });
});
