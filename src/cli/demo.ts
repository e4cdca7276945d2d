// `lifeline demo` (npm start): a hub, an enrolled appliance agent with remote service on, two
// sample appliance services and a technician user, all on loopback with a fresh data directory.

import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { Agent, agentPaths, enroll } from '../agent/index.js';
import { writePrivateFile } from '../common/disk/index.js';
import { systemClock } from '../common/clock.js';
import { createLogger, silentLogger } from '../common/logger.js';
import { Hub, enrollmentTokenId, hashPassword, hubPaths, initHub, loadHubConfig } from '../hub/index.js';
import { certSha256 } from '../pki/index.js';
import { encodeEnrollmentToken } from '../protocol/index.js';
import { AgentStore } from '../agent/store/index.js';
import { AuditLog } from '../agent/audit/index.js';
import { putService } from '../agent/sessions/index.js';
import { closeWithDeadline, waitForSignal } from './hub/index.js';
import { printError, printLine, tty } from './io.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function listen(server: Server | ReturnType<typeof createHttpServer>): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

function consolePage(stationId: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Appliance console</title></head>
<body style="font-family: sans-serif; margin: 3rem">
<h1>Appliance console</h1>
<p>This page is a service of the appliance <strong>${stationId}</strong>, reached through a Lifeline service session.</p>
</body></html>\n`;
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run a hub, an enrolled appliance agent, sample services and a technician on loopback')
    .option('--data <dir>', 'data directory (default: a fresh temporary directory)')
    .action(async (opts: { data?: string }) => {
      const status = (text: string) => printError(tty`  [demo] ${text}`);
      const root = opts.data ?? mkdtempSync(join(tmpdir(), 'lifeline-demo-'));
      const hubDir = join(root, 'hub');
      const agentDir = join(root, 'agent');
      const techHome = join(root, 'technician');
      const logger = createLogger({ name: 'demo', level: 'warn', destination: 2 });

      status(`data directory ${root}`);
      status('creating the hub CA and keys');
      const [stationPort, apiPort, adminPort] = [await freePort(), await freePort(), await freePort()];
      await initHub(hubDir, { listen: `127.0.0.1:${stationPort}`, apiListen: `127.0.0.1:${apiPort}` });
      const hubConfig = loadHubConfig(hubDir);
      const hub = await Hub.start({ dataDir: hubDir, logger: logger.child({ part: 'hub' }) });

      const password = randomBytes(9).toString('base64url');
      await hub.store.addUser({
        name: 'guest',
        passwordHash: await hashPassword(password),
        groups: ['technicians'],
        createdAtMs: Date.now(),
        disabledAtMs: null,
      });
      await hub.store.addUser({
        name: 'tech',
        passwordHash: await hashPassword(password),
        groups: ['technicians'],
        createdAtMs: Date.now(),
        disabledAtMs: null,
      });
      const secret = randomBytes(32).toString('base64url');
      await hub.store.addEnrollmentToken({
        id: enrollmentTokenId(secret),
        createdAtMs: Date.now(),
        expiresAtMs: Date.now() + 15 * 60_000,
        usedAtMs: null,
        usedByStation: null,
      });
      const token = encodeEnrollmentToken({
        hub: hubConfig.stationAddress,
        caSha256: certSha256(readFileSync(hubPaths(hubDir).caCert, 'utf8')),
        secret,
      });

      status('enrolling the appliance agent');
      const enrolled = await enroll({
        dataDir: agentDir,
        tokenText: token,
        name: 'demo-appliance',
        onStep: (s) => status(s),
      });

      status('starting the sample appliance services');
      const web = createHttpServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(consolePage(enrolled.stationId));
      });
      const echo = createServer((socket) => socket.pipe(socket));
      const webPort = await listen(web);
      const echoPort = await listen(echo);
      // Declared as `lifeline agent service add` does before the agent's first start.
      const store = await AgentStore.open(agentPaths(agentDir).database);
      const serviceAudit = new AuditLog(store, systemClock, silentLogger());
      await putService(serviceAudit, { name: 'console', host: '127.0.0.1', port: webPort }, 'admin@demo');
      await putService(serviceAudit, { name: 'echo', host: '127.0.0.1', port: echoPort }, 'admin@demo');
      await store.close();

      status('starting the agent and turning remote service on');
      const agent = await Agent.start({
        dataDir: agentDir,
        adminListen: `127.0.0.1:${adminPort}`,
        logger: logger.child({ part: 'agent' }),
      });
      // Restricted, the recommended level: tech has a rule; guest has none and must ask.
      await agent.setAccessLevel('restricted', 'admin@demo');
      await agent.policyControl.addRule({ technician: 'tech', note: 'demo technician' }, 'admin@demo');
      await agent.setRemote(true, 'admin@demo');
      await new Promise<void>((resolve) => {
        if (agent.tunnel.status.state === 'connected') resolve();
        else agent.tunnel.on('state', (s) => s.state === 'connected' && resolve());
      });
      status('tunnel connected');

      const forwardPort = await freePort();
      const cli = 'node bin/lifeline.js';
      const env = `LIFELINE_HOME=${techHome}`;
      const guestEnv = `LIFELINE_HOME=${join(root, 'guest')}`;
      writePrivateFile(join(root, 'technician-password'), password + '\n', true);
      const lines = [
        '',
        'Lifeline demo is running.',
        '',
        `  Station ID        ${enrolled.stationId}`,
        `  Diagnostics page  ${agent.adminUrl}/ui/diagnostics/#token=${encodeURIComponent(readFileSync(agentPaths(agentDir).adminToken, 'utf8').trim())}`,
        `  Hub console       ${hubConfig.apiUrl}/ui/console/  (tech or guest; trust ${hubPaths(hubDir).caCert} in the browser, or accept its warning)`,
        `  Agent admin API   ${agent.adminUrl}  (credential in ${agentPaths(agentDir).adminToken})`,
        `  Hub               ${hubConfig.apiUrl}  (stations dial ${hubConfig.stationAddress})`,
        `  Technicians       tech (has an ACL rule) and guest (has none), password ${password}`,
        `  Access level      restricted`,
        '',
        'Log in as the technician and reach the appliance console through the tunnel:',
        '',
        `  echo '${password}' | ${env} ${cli} login --hub ${hubConfig.apiUrl} --user tech --password-stdin --ca-file ${hubPaths(hubDir).caCert}`,
        `  ${env} ${cli} connect ${enrolled.stationId} --service console --listen 127.0.0.1:${forwardPort}`,
        `  curl http://127.0.0.1:${forwardPort}/`,
        '',
        'As guest, the same attempt becomes an access request that the appliance administrator decides:',
        '',
        `  echo '${password}' | ${guestEnv} ${cli} login --hub ${hubConfig.apiUrl} --user guest --password-stdin --ca-file ${hubPaths(hubDir).caCert}`,
        `  ${guestEnv} ${cli} connect ${enrolled.stationId} --service echo --stdio --reason "case 4711" --wait`,
        `  ${cli} agent requests --data ${agentDir}`,
        `  ${cli} agent accept AR-XXXXXX --for 1h --data ${agentDir}`,
        '',
        'Control the appliance side:',
        '',
        `  ${cli} agent status --data ${agentDir}`,
        `  ${cli} agent sessions --data ${agentDir}`,
        `  ${cli} agent stop --all --data ${agentDir}`,
        `  ${cli} agent access none --data ${agentDir}`,
        '',
        'Call home: report a problem from the appliance and find its ticket on the hub:',
        '',
        `  ${cli} agent problem open --summary "Fan 3 failed" --severity major --code E1F3 --data ${agentDir}`,
        `  ${cli} agent problems --data ${agentDir}`,
        `  ${cli} agent sent --data ${agentDir}`,
        `  ${cli} hub problems --data ${hubDir}`,
        `  ${cli} hub stations --data ${hubDir}`,
        '',
        'Press Ctrl-C to stop.',
        '',
      ];
      for (const line of lines) printLine(tty`${line}`);
      await waitForSignal();
      status('stopping');
      await closeWithDeadline(async () => {
        await agent.close();
        await hub.close();
        web.close();
        echo.close();
      }, 10_000);
    });
}
