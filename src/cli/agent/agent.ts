// `lifeline agent ...`: enroll the appliance, declare its services, run the agent and control it.

import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  Agent,
  agentPaths,
  enroll,
  loadAgentConfig,
  type ActiveSession,
  type AgentStatus,
} from '../../agent/index.js';
import { LifelineError, errorCodes, isErrorCode } from '../../common/errors.js';
import { formatBytes } from '../../common/bytes.js';
import { proxyConfigSchema, type ProxyConfig } from '../../agent/link/index.js';
import { formatMode } from '../../common/disk/index.js';
import { createLogger } from '../../common/logger.js';
import { isServiceName } from '../../protocol/index.js';
import { AgentStore, type AgentSessionRecord } from '../../agent/store/index.js';
import { type RefusalCount } from '../../agent/sessions/index.js';
import { AdminClient } from '../admin-client.js';
import { checkServiceHost, deleteService, putService } from '../../agent/sessions/index.js';
import { offlineActor, viaAgentOrOffline } from './agent-writes.js';
import { registerAgentPolicyCommands } from './policy.js';
import { registerAgentAuditCommand } from './audit.js';
import { registerAgentCallHomeCommands } from './callhome.js';
import { registerAgentDataRequestCommands } from './datarequests.js';
import { registerAgentCollectCommands } from './collect.js';
import { registerAgentProblemsCommand } from './problems.js';
import { registerAgentFixCommands } from './fixes.js';
import { closeWithDeadline, waitForSignal, warnOfLooseModes } from '../hub/index.js';
import { ago, printError, printJson, printLine, printTable, readStdin, tty } from '../io.js';

export function registerAgentCommands(program: Command): void {
  const agent = program
    .command('agent')
    .description('the appliance agent: enroll, services, run, remote service and access');
  const dataOption = ['--data <dir>', 'agent data directory'] as const;

  agent
    .command('enroll')
    .description('enroll this appliance with a hub using a one-time token')
    .requiredOption(...dataOption)
    .requiredOption('--token-file <file>', 'file holding the enrollment token, or - for standard input')
    .option('--name <name>', 'name of this appliance as the hub shows it')
    .option('--proxy <url>', 'HTTP proxy http://HOST:PORT to reach the hub through (kept in agent.yaml)')
    .option('--proxy-user <name>', 'user name for the proxy (basic authentication)')
    .option('--proxy-password-file <file>', 'file holding the proxy password')
    .action(
      async (opts: {
        data: string;
        tokenFile: string;
        name?: string;
        proxy?: string;
        proxyUser?: string;
        proxyPasswordFile?: string;
      }) => {
        const tokenText =
          opts.tokenFile === '-' ? await readStdin('enrollment token') : readTokenFile(opts.tokenFile);
        const proxy = proxyFromFlags(opts);
        const result = await enroll({
          dataDir: opts.data,
          tokenText,
          ...(opts.name ? { name: opts.name } : {}),
          ...(proxy ? { proxy } : {}),
          onStep: (step) => printError(tty`  ${step}...`),
        });
        printLine(tty`Enrolled with the hub at ${result.hub}`);
        printLine(tty`Station ID: ${result.stationId}`);
        if (result.dataDirTightenedFrom !== undefined)
          printLine(
            tty`The data directory ${opts.data} is now 0700 (it was ${formatMode(result.dataDirTightenedFrom)}): it holds the station key`,
          );
        printLine(
          tty`Remote service is off. Start the agent, then turn it on with: lifeline agent remote on`,
        );
      },
    );

  const service = agent
    .command('service')
    .description('named services of this appliance that technicians may reach');
  service
    .command('add <name>')
    .requiredOption(...dataOption)
    .requiredOption('--port <port>', 'TCP port of the service')
    .option('--host <ip>', 'loopback or an address of this appliance', '127.0.0.1')
    .action(async (name: string, opts: { data: string; port: string; host: string }) => {
      if (!isServiceName(name)) {
        throw new LifelineError(
          'API_BAD_REQUEST',
          'service name: expected a lower-case letter, then up to 31 letters, digits or dashes',
        );
      }
      const port = Number(opts.port);
      if (!/^\d{1,5}$/.test(opts.port) || port < 1 || port > 65535) {
        throw new LifelineError(
          'API_BAD_REQUEST',
          `--port: expected a TCP port 1-65535, got ${JSON.stringify(opts.port)}`,
        );
      }
      const host = checkServiceHost(opts.host, '--host');
      loadAgentConfig(opts.data);
      await viaAgentOrOffline(
        opts.data,
        (client) => client.request('PUT', `/v1/services/${encodeURIComponent(name)}`, { host, port }),
        ({ audit }) => putService(audit, { name, host, port }, offlineActor),
      );
      printLine(tty`Service ${name} -> ${host}:${port}`);
    });
  service
    .command('remove <name>')
    .requiredOption(...dataOption)
    .action(async (name: string, opts: { data: string }) => {
      loadAgentConfig(opts.data);
      // No service can have such a name: add refuses it.
      if (!isServiceName(name)) throw new LifelineError('POLICY_SERVICE_UNKNOWN', `no service named ${name}`);
      await viaAgentOrOffline(
        opts.data,
        (client) => client.request('DELETE', `/v1/services/${encodeURIComponent(name)}`),
        ({ audit }) => deleteService(audit, name, offlineActor),
      );
      printLine(tty`Service ${name} removed`);
    });
  service
    .command('list')
    .requiredOption(...dataOption)
    .option('--json', 'print JSON')
    .action(async (opts: { data: string; json?: boolean }) => {
      const services = await withAgentStore(opts.data, (store) => store.listServices());
      if (opts.json) printJson(services);
      else
        printTable(
          services.map((s) => ({ name: s.name, target: `${s.host}:${s.port}` })),
          ['name', 'target'],
        );
    });

  agent
    .command('start')
    .description('run the agent in the foreground: admin API and, while remote service is on, the tunnel')
    .requiredOption(...dataOption)
    .option('--admin-listen <host:port>', 'admin API address (default from agent.yaml, 127.0.0.1:8080)')
    .action(async (opts: { data: string; adminListen?: string }) => {
      const config = loadAgentConfig(opts.data);
      const logger = createLogger({ name: 'agent', level: config.log.level });
      warnOfLooseModes(opts.data, logger);
      const running = await Agent.start({
        dataDir: opts.data,
        logger,
        ...(opts.adminListen ? { adminListen: opts.adminListen } : {}),
      });
      // The link without the credential: this output may end up in a service's log.
      printError(
        tty`Diagnostics page: ${running.adminUrl}/ui/diagnostics/ (a signed-in link: lifeline agent diagnostics --data ${opts.data})`,
      );
      await waitForSignal();
      await closeWithDeadline(() => running.close(), 10_000);
    });

  agent
    .command('diagnostics')
    .description('print a link that opens the Diagnostics page signed in (it holds the admin credential)')
    .requiredOption(...dataOption)
    .action(async (opts: { data: string }) => {
      const client = new AdminClient(opts.data);
      // Proves the agent is running (and the link will open) before printing the secret.
      await client.request<AgentStatus>('GET', '/v1/status');
      printLine(tty`${client.diagnosticsLink()}`);
    });

  agent
    .command('remote <state>')
    .description('turn remote service on or off (off ends every session at once)')
    .requiredOption(...dataOption)
    .action(async (state: string, opts: { data: string }) => {
      if (state !== 'on' && state !== 'off')
        throw new LifelineError('API_BAD_REQUEST', 'expected: lifeline agent remote on|off');
      const status = await new AdminClient(opts.data).request<AgentStatus>('PUT', '/v1/remote', {
        enabled: state === 'on',
      });
      printLine(
        tty`Remote service is ${status.remoteEnabled ? 'on' : 'off'} (access: ${status.accessLevel})`,
      );
    });

  agent
    .command('access <level>')
    .description(
      'set the access level: full (any authorized technician), restricted (ACL rules, the default) or none',
    )
    .requiredOption(...dataOption)
    .action(async (level: string, opts: { data: string }) => {
      if (level !== 'full' && level !== 'none' && level !== 'restricted') {
        throw new LifelineError('API_BAD_REQUEST', 'expected: lifeline agent access full|restricted|none');
      }
      const status = await new AdminClient(opts.data).request<AgentStatus>('PUT', '/v1/access', { level });
      printLine(tty`Access level is ${status.accessLevel}`);
    });

  agent
    .command('status')
    .description('Station ID, hub, tunnel state, access level, sessions')
    .requiredOption(...dataOption)
    .option('--json', 'print JSON')
    .action(async (opts: { data: string; json?: boolean }) => {
      const client = new AdminClient(opts.data);
      const status = await client.request<AgentStatus>('GET', '/v1/status');
      if (opts.json) {
        printJson(status);
        return;
      }
      const since = new Date(status.tunnel.sinceMs).toISOString();
      printLine(tty`Station ID       ${status.stationId}`);
      printLine(tty`Hub              ${status.hub}`);
      printConnectivity(status);
      printLine(tty`Remote service   ${status.remoteEnabled ? 'on' : 'off'}`);
      printLine(tty`Access level     ${status.accessLevel}`);
      printLine(
        tty`MFA              ${status.mfa}${status.mfa === 'required' ? ' (every session needs a TOTP login)' : ''}`,
      );
      printLine(tty`Tunnel           ${status.tunnel.state} since ${since} (${ago(since)})`);
      if (status.tunnel.lastError)
        printLine(tty`Last error       ${status.tunnel.lastError}${codeSuffix(status.tunnel.lastErrorCode)}`);
      if (status.certificate) printLine(tty`Certificate      ${status.certificate.summary}`);
      printLine(tty`Active sessions  ${status.activeSessions}`);
      printLine(tty`Pending requests ${status.pendingRequests}`);
      const grant = status.oneTimeGrant;
      if (grant) {
        const state =
          grant.usedAtMs !== null
            ? `used ${new Date(grant.usedAtMs).toISOString()}`
            : grant.notAfterMs <= Date.now()
              ? 'expired'
              : `open until ${new Date(grant.notAfterMs).toISOString()}`;
        printLine(tty`One-time access  ${grant.id} ${state}`);
      }
      if (!status.auditHealthy) printLine(tty`Audit log        NOT WRITABLE: no session can start`);
      printStoreFull(status);
      const { refusals } = await client.request<{ refusals: RefusalCount[] }>('GET', '/v1/refusals');
      if (refusals.length > 0) {
        printLine(
          tty`Refused attempts ${refusals.map((r) => `${r.technician} ${r.count} (last ${r.lastCode})`).join(', ')}`,
        );
      }
    });

  agent
    .command('sessions')
    .description('active service sessions')
    .requiredOption(...dataOption)
    .option('--json', 'print JSON')
    .action(async (opts: { data: string; json?: boolean }) => {
      const result = await new AdminClient(opts.data).request<{
        active: ActiveSession[];
        recent: AgentSessionRecord[];
      }>('GET', '/v1/sessions');
      if (opts.json) {
        printJson(result);
        return;
      }
      printTable(
        result.active.map((s) => ({
          session: s.id,
          technician: s.technicianName,
          service: s.service,
          since: ago(new Date(s.startedAtMs).toISOString()),
          'bytes in/out': `${s.bytesIn}/${s.bytesOut}`,
        })),
        ['session', 'technician', 'service', 'since', 'bytes in/out'],
      );
    });

  agent
    .command('stop [session]')
    .description('stop one session, or every session with --all')
    .requiredOption(...dataOption)
    .option('--all', 'stop every session')
    .action(async (session: string | undefined, opts: { data: string; all?: boolean }) => {
      const client = new AdminClient(opts.data);
      if (opts.all) {
        const result = await client.request<{ stopped: number }>('POST', '/v1/sessions/stop-all');
        printLine(tty`Stopped ${result.stopped} session(s)`);
      } else if (session) {
        await client.request('DELETE', `/v1/sessions/${encodeURIComponent(session)}`);
        printLine(tty`Stopped session ${session}`);
      } else {
        throw new LifelineError(
          'API_BAD_REQUEST',
          'expected: lifeline agent stop SESSION or lifeline agent stop --all',
        );
      }
    });

  registerAgentPolicyCommands(agent);

  registerAgentAuditCommand(agent);
  registerAgentCallHomeCommands(agent);
  registerAgentDataRequestCommands(agent);
  registerAgentCollectCommands(agent);
  registerAgentProblemsCommand(agent);
  registerAgentFixCommands(agent);
}

/** `--proxy URL [--proxy-user NAME --proxy-password-file FILE]`, checked like agent.yaml's `proxy`. */
function proxyFromFlags(opts: {
  proxy?: string;
  proxyUser?: string;
  proxyPasswordFile?: string;
}): ProxyConfig | undefined {
  if (opts.proxy === undefined) {
    if (opts.proxyUser !== undefined || opts.proxyPasswordFile !== undefined)
      throw new LifelineError('CONFIG_INVALID', '--proxy-user and --proxy-password-file need --proxy URL');
    return undefined;
  }
  const parsed = proxyConfigSchema.safeParse({
    url: opts.proxy,
    ...(opts.proxyUser !== undefined ? { username: opts.proxyUser } : {}),
    ...(opts.proxyPasswordFile !== undefined ? { passwordFile: opts.proxyPasswordFile } : {}),
  });
  if (!parsed.success) {
    const flags: Record<string, string> = {
      url: '--proxy',
      username: '--proxy-user',
      passwordFile: '--proxy-password-file',
    };
    const issue = parsed.error.issues[0];
    const key = String(issue?.path[0] ?? 'url');
    throw new LifelineError('CONFIG_INVALID', `${flags[key] ?? key}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/** ` (CODE)` after an error message; nothing from an agent that reports no code. */
function codeSuffix(code: string | null | undefined): string {
  return code ? ` (${code})` : '';
}

/** The hub endpoints (the one in use, and why the others are not) and the proxy with its last error. */
function printConnectivity(status: AgentStatus): void {
  const endpoints = status.hubEndpoints ?? [];
  if (endpoints.length > 1 || endpoints.some((e) => e.state === 'failed')) {
    for (const [index, endpoint] of endpoints.entries()) {
      const why =
        endpoint.state === 'in-use'
          ? 'in use'
          : endpoint.state === 'untried'
            ? 'not tried (an earlier endpoint works)'
            : endpoint.state === 'standby'
              ? 'reachable, standing by (another endpoint is in use)'
              : `failed: ${endpoint.lastError ?? 'unknown error'}${codeSuffix(endpoint.lastErrorCode)}`;
      const since = endpoint.sinceMs === null ? '' : ` since ${new Date(endpoint.sinceMs).toISOString()}`;
      const via = endpoint.via === 'proxy' ? ' via proxy' : '';
      printLine(
        tty`${index === 0 ? 'Hub endpoints   ' : '                '} ${index + 1}. ${endpoint.endpoint}${via}: ${why}${endpoint.state === 'untried' ? '' : since}`,
      );
    }
  }
  const proxy = status.proxy;
  if (proxy) {
    const user = proxy.username === null ? '' : ` as ${proxy.username}`;
    printLine(tty`Proxy            ${proxy.url}${user} (from ${proxy.source})`);
    if (proxy.lastError) {
      const at = proxy.lastErrorAtMs === null ? '' : ` at ${new Date(proxy.lastErrorAtMs).toISOString()}`;
      const code = proxy.lastErrorCode;
      const http = code !== null && isErrorCode(code) ? ` (${errorCodes[code]})` : '';
      printLine(tty`Proxy error      ${code ?? 'error'}${http}${at}: ${proxy.lastError}`);
    }
  }
}

/** The store-full condition: what is full, since when, what is refused and what to do. */
function printStoreFull(status: AgentStatus): void {
  const full = status.storeFull;
  // An agent from before the condition existed has no such field.
  if (!full) return;
  const since = new Date(full.sinceMs).toISOString();
  const free = full.freeBytes === null ? 'unknown' : formatBytes(full.freeBytes);
  const what =
    full.reason === 'size-limit'
      ? `${full.path} reached its size limit (store.maxSizeMb)`
      : full.reason === 'quota'
        ? `the disk quota is used up (${full.path})`
        : `the disk of ${full.dir} is full`;
  printLine(tty`Storage          FULL since ${since} (${ago(since)}): ${what}`);
  printLine(
    tty`Free space       ${free} in ${full.dir} (the agent keeps ${formatBytes(full.minFreeBytes)} free)`,
  );
  printLine(
    tty`Refused          new reports and attachments (507 STORE_FULL); reports accepted before are kept`,
  );
  printLine(
    status.auditHealthy
      ? tty`Sessions         still allowed: the audit log can be written`
      : tty`Sessions         REFUSED: the audit log cannot be written`,
  );
  printLine(
    full.reason === 'size-limit'
      ? tty`What to do       raise store.maxSizeMb in agent.yaml and restart the agent`
      : tty`What to do       free space in ${full.dir}: the agent resumes by itself, no restart needed`,
  );
}

function readTokenFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new LifelineError(
      'ENROLL_TOKEN_INVALID',
      `cannot read the token file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
}

async function withAgentStore<T>(dataDir: string, work: (store: AgentStore) => Promise<T>): Promise<T> {
  loadAgentConfig(dataDir);
  const store = await AgentStore.open(agentPaths(dataDir).database);
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}
