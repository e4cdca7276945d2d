// The agent's admin API answers only requests whose Host header names it: a web page on a name
// that resolves to the appliance (DNS rebinding) is refused with 421, whatever the route, while
// its own address and localhost, and the CLI, work as before.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster } from '../harness/cluster.js';

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** One request to the admin API with the Host header given (or none at all). */
function adminRequest(port: number, path: string, host: string | undefined, token?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        setHost: false,
        headers: {
          ...(host === undefined ? {} : { host }),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text || '{}') as Record<string, unknown> }),
        );
      },
    );
    req.once('error', reject);
    req.end();
  });
}

/** Bytes as they are written, and the whole answer (the server closes an HTTP/1.0 connection). */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('utf8')));
    socket.once('close', () => resolve(answer));
    socket.once('error', reject);
    socket.end(text);
  });
}

describe('admin API Host', () => {
  let cluster: Cluster;
  let token: string;

  before(async () => {
    cluster = await Cluster.start({ remote: false });
    token = readFileSync(join(cluster.agentDir, 'admin-token'), 'utf8').trim();
  });

  after(async () => {
    await cluster?.close();
  });

  test('the admin API refuses a Host that does not name it, with 421 and a reason', async () => {
    const port = cluster.adminPort;
    for (const host of [
      `evil.example:${port}`,
      `localhost.evil.example:${port}`,
      `127.0.0.1.nip.io:${port}`,
      `127.0.0.1:${port + 1}`,
      'localhost',
      '',
    ]) {
      for (const path of ['/health', '/v1/status', '/ui/diagnostics/']) {
        const answer = await adminRequest(port, path, host, token);
        assert.equal(answer.status, 421, `${path} Host ${String(host)}`);
        assert.equal(answer.body.code, 'API_MISDIRECTED');
        assert.match(
          String(answer.body.message),
          new RegExp(
            `^the admin API answers only to its own address \\(127\\.0\\.0\\.1:${port}\\) or localhost:${port}, not to Host `,
          ),
        );
      }
    }
  });

  test('a request with no Host is refused too: by Node for HTTP/1.1, with 421 for HTTP/1.0', async () => {
    const port = cluster.adminPort;
    assert.equal((await adminRequest(port, '/health', undefined)).status, 400);
    const answer = await rawRequest(port, 'GET /health HTTP/1.0\r\n\r\n');
    assert.match(answer, /^HTTP\/1\.1 421 /);
    assert.match(answer, /"code":"API_MISDIRECTED"/);
  });

  test('its own address and localhost are answered as before, by the CLI too', async () => {
    const port = cluster.adminPort;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LocalHost:${port}`]) {
      assert.equal((await adminRequest(port, '/health', host)).status, 200, host);
      assert.equal((await adminRequest(port, '/v1/status', host, token)).status, 200, host);
      // The credential is still needed: the Host check comes on top of it.
      assert.equal((await adminRequest(port, '/v1/status', host)).status, 401, host);
    }
    const status = await cluster.cli(['agent', 'status', '--data', cluster.agentDir]);
    assert.match(status.stdout, /^Station ID {7}ST-/m);
  });
});
