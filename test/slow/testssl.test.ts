// testssl.sh (Debian's /usr/bin/testssl) against both ports of a real hub: the station port (TLS 1.3
// only, mutual TLS requested but not required at the handshake) and the technician API (TLS 1.2+).
// The full default set of checks runs (about a minute per port); no finding may be rated MEDIUM or
// worse, nor may the scan itself fail.

// reflect-metadata must be loaded before @peculiar/x509 (it uses tsyringe).
import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { get as httpsGet } from 'node:https';
import { X509Certificate, X509Crl } from '@peculiar/x509';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster } from '../harness/cluster.js';

const testsslPath = '/usr/bin/testssl';
const scanTimeoutMs = 300_000;

interface Finding {
  id: string;
  severity: string;
  finding: string;
}

/** Weaknesses that fail the test at once. */
const weakness = new Set(['MEDIUM', 'HIGH', 'CRITICAL']);
/** A check that could not run: the scan is repeated, and fails the test if it keeps happening. */
const scanTrouble = new Set(['WARN', 'FATAL']);
const scanAttempts = 3;

/**
 * Scan troubles tolerated, by id. The session-resumption check of "server defaults" (informational:
 * it rates nothing) runs `openssl s_client -sess_out ... </dev/null`; against Node's TLS 1.3, which
 * sends its session tickets after the handshake, s_client often quits on the end of its input before
 * printing the certificate, and testssl reports "connect problem". The same happens, about one run in
 * two, against a bare node:http2 server with default settings, so it says nothing about the hub.
 */
const toleratedTrouble = new Set(['sessionresumption_ticket', 'sessionresumption_ID']);

function runTestssl(port: number, caPath: string, jsonPath: string, cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      testsslPath,
      [
        '--quiet',
        '--color',
        '0',
        '--warnings',
        'off',
        // Generous bounds: on a loaded CI machine a slow answer must not read as a connect problem
        // (reported as WARN, which fails the test because a check then did not run).
        '--openssl-timeout',
        '20',
        '--connect-timeout',
        '10',
        // The hub's CA, so the chain of trust is checked as technicians and agents check it.
        '--add-ca',
        caPath,
        '--ip',
        '127.0.0.1',
        '--jsonfile',
        jsonPath,
        // The certificate names localhost; --ip keeps testssl on loopback without DNS.
        `localhost:${port}`,
      ],
      { cwd, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), scanTimeoutMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      // testssl's own errors are exit codes 242..255; below that it reports findings.
      if (signal !== null || code === null || code >= 242)
        reject(new Error(`testssl ended with ${signal ?? `exit ${code}`}:\n${output}`));
      else resolve(output);
    });
  });
}

/** GET url over HTTPS trusting only caPem; the body when the answer is a 200 application/pkix-crl. */
function fetchCrl(url: string, caPem: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const request = httpsGet(url, { ca: caPem }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('error', reject);
      response.once('end', () => {
        const type = response.headers['content-type'];
        if (response.statusCode === 200 && type === 'application/pkix-crl') resolve(Buffer.concat(chunks));
        else reject(new Error(`GET ${url} answered ${response.statusCode} ${type}`));
      });
    });
    request.once('error', reject);
  });
}

function findingOf(findings: Finding[], id: string): Finding {
  const found = findings.find((f) => f.id === id);
  assert.ok(found, `testssl reported no ${id}`);
  return found;
}

async function scan(cluster: Cluster, port: number, name: string): Promise<Finding[]> {
  for (let attempt = 1; ; attempt++) {
    const jsonPath = join(cluster.root, `testssl-${name}-${attempt}.json`);
    const output = await runTestssl(port, join(cluster.hubDir, 'ca.pem'), jsonPath, cluster.root);
    const findings = JSON.parse(readFileSync(jsonPath, 'utf8')) as Finding[];
    const list = (wanted: Set<string>, except: Set<string>) =>
      findings
        .filter((f) => wanted.has(f.severity) && !except.has(f.id))
        .map((f) => `${f.severity} ${f.id}: ${f.finding}`);
    assert.deepEqual(list(weakness, new Set()), [], `testssl found weaknesses on the ${name}:\n${output}`);
    const troubles = list(scanTrouble, toleratedTrouble);
    if (troubles.length > 0 && attempt < scanAttempts) {
      console.log(
        `# testssl could not run every check on the ${name}, scanning again: ${troubles.join('; ')}`,
      );
      continue;
    }
    assert.deepEqual(troubles, [], `testssl could not run every check on the ${name}:\n${output}`);
    // The scan reached TLS and trusted the chain through the hub CA (--add-ca worked).
    assert.equal(findingOf(findings, 'cert_chain_of_trust').finding, 'passed.');
    assert.match(findingOf(findings, 'TLS1_3').finding, /^offered/);
    for (const old of ['SSLv2', 'SSLv3', 'TLS1', 'TLS1_1'])
      assert.equal(findingOf(findings, old).finding, 'not offered');
    assert.equal(findingOf(findings, 'cipherlist_AVERAGE').finding, 'not offered', 'no CBC suites');
    assert.equal(findingOf(findings, 'CRIME_TLS').severity, 'OK', 'no TLS compression');
    // The certificate names the hub's own CRL (testssl rates one without a CRL or OCSP URI HIGH).
    assert.equal(findingOf(findings, 'cert_crlDistributionPoints').finding, `${cluster.hubUrl}/v1/ca.crl`);
    return findings;
  }
}

test(
  'testssl.sh finds no weakness rated medium or worse on either hub port',
  { timeout: 900_000 },
  async (t) => {
    assert.ok(existsSync(testsslPath), `${testsslPath} is needed (Debian package testssl.sh)`);
    const cluster = new Cluster();
    t.after(() => cluster.close());
    await cluster.initHub();
    await cluster.startHub();

    await t.test('the CRL the certificates name is served, signed by the hub CA', async () => {
      const caPem = readFileSync(join(cluster.hubDir, 'ca.pem'), 'utf8');
      const der = await fetchCrl(`${cluster.hubUrl}/v1/ca.crl`, caPem);
      const crl = new X509Crl(der);
      assert.ok(await crl.verify({ publicKey: new X509Certificate(caPem) }, webcrypto));
      assert.ok((crl.nextUpdate?.getTime() ?? 0) > Date.now(), 'the CRL is current');
    });

    await t.test('station port: TLS 1.3 only', async () => {
      const findings = await scan(cluster, cluster.stationPort, 'station-port');
      assert.equal(findingOf(findings, 'TLS1_2').finding, 'not offered');
    });

    await t.test('technician API: TLS 1.2+, modern suites, no renegotiation, HSTS', async () => {
      const findings = await scan(cluster, cluster.apiPort, 'technician-api');
      assert.equal(findingOf(findings, 'TLS1_2').finding, 'offered');
      assert.equal(findingOf(findings, 'cipher_order').finding, 'server');
      // Every TLS 1.2 suite offered is ECDHE with AES-GCM or ChaCha20-Poly1305.
      for (const suite of findingOf(findings, 'cipherorder_TLSv1_2').finding.split(' '))
        assert.match(suite, /^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
      // Refused outright, not merely rate-limited ("mitigated").
      assert.equal(findingOf(findings, 'secure_client_renego').finding, 'not vulnerable');
      assert.match(findingOf(findings, 'HSTS_time').finding, /^\d+ days/);
    });
  },
);
