// Hostile text, across processes: a station, a technician, the appliance administrator and the
// vendor put terminal control sequences (screen clear, window title, clipboard write, 8-bit CSI,
// BEL, DEL, a bidi override) into the fields they control that the CLI prints: the station's name,
// its inventory (sent with its own certificate, through the agent), performance sources, problems,
// an attachment name, access-request reasons, rejection and ACL notes, group names, data-request
// notes, fix descriptions. Every printing command then runs as a real process: none of their
// output, nor the hub's and agent's logs, holds an ESC, BEL, DEL, C1 or bidi control, and the
// --json forms of those that carry the text in a field of their own parse back to it. Every
// command of the CLI is either run here or named, with the reason, as printing nothing from
// elsewhere.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { registerAgentCommands } from '../../src/cli/agent/index.js';
import { registerDemoCommand } from '../../src/cli/demo.js';
import { registerHubCommands } from '../../src/cli/hub/index.js';
import { registerTechnicianCommands } from '../../src/cli/technician.js';
import { Cluster, freePorts, runCli, waitFor, type CliResult } from '../harness/cluster.js';
import { startEchoServer, type EchoServer } from '../harness/echo-server.js';

/** ESC [2J (clear), OSC 0 (window title), OSC 52 (clipboard), C1 CSI, BEL, DEL, RLO. */
const hostile = '\u001b[2J\u001b]0;pwned\u0007\u001b]52;c;cHduZWQ=\u0007\u009b31m\u0007\u007f\u202eevil';
/** Attachment names may not hold C0 controls or DEL; C1 and bidi controls they may. */
const hostileFileName = '\u009b2J\u202eevil\u2066.txt';
/** What must never reach a terminal: every control but LF, DEL, C1, separators, bidi controls. */
// eslint-disable-next-line no-control-regex
const unsafe = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/**
 * Commands that print nothing a station, technician, hub answer or stored row put there (or that
 * cannot run here), each with why. Every other command is run below.
 */
const notRun: Record<string, string> = {
  'hub start': 'runs in the foreground; its output (logs) is checked at the end',
  'agent start': 'runs in the foreground; its output (logs) is checked at the end',
  demo: 'runs in the foreground with its own fixed text',
  'hub rotate ca': 'prints times and fixed text',
  'hub rotate ticket-key': 'prints times and fixed text',
  'hub user totp': 'prints a user name (letters, digits, . _ @ -) and an otpauth URI of it',
  'hub user disable': 'prints a user name (letters, digits, . _ @ -) and counts',
  'hub user enable': 'prints a user name (letters, digits, . _ @ -)',
  'agent accept': 'prints a request id, a hub user name and service names (all restricted)',
  'agent sent --show': 'prints the exact bytes that left, by design (docs/protocol.md)',
  'hub join':
    'needs a cluster in PostgreSQL (test/hub-cluster.test.ts runs it); prints a cluster id (a UUID), paths and addresses',
};

function cliCommands(): string[] {
  const program = new Command('lifeline');
  registerHubCommands(program);
  registerAgentCommands(program);
  registerTechnicianCommands(program);
  registerDemoCommand(program);
  const names: string[] = [];
  const walk = (command: Command, prefix: string) => {
    for (const sub of command.commands) {
      const name = `${prefix}${sub.name()}`;
      if (sub.commands.length === 0) names.push(name);
      walk(sub, `${name} `);
    }
  };
  walk(program, '');
  return names;
}

/** True when `value` holds the string `text` somewhere (a JSON answer kept the original text). */
function holds(value: unknown, text: string): boolean {
  if (value === text) return true;
  if (Array.isArray(value)) return value.some((item) => holds(item, text));
  if (value && typeof value === 'object')
    return Object.entries(value).some(([key, item]) => key === text || holds(item, text));
  return false;
}

/** What a command printed, and what its --json form parsed to. */
interface Printed {
  text: string;
  json: unknown;
}

/** Runs the tasks three at a time (each is a process or two), in order of the list; keeps results in order. */
async function inParallel(tasks: (() => Promise<unknown>)[], width = 3): Promise<unknown[]> {
  const results: unknown[] = [];
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < tasks.length; index = next++) results[index] = await tasks[index]?.();
  };
  await Promise.all(Array.from({ length: width }, worker));
  return results;
}

function assertPrintable(what: string, output: string): void {
  const found = unsafe.exec(output);
  assert.equal(
    found,
    null,
    `${what} printed U+${found?.[0].charCodeAt(0).toString(16).padStart(4, '0') ?? ''} at ${found?.index ?? -1}: ${JSON.stringify(output.slice(Math.max(0, (found?.index ?? 0) - 40), (found?.index ?? 0) + 40))}`,
  );
}

describe('hostile text', () => {
  let cluster: Cluster;
  let echo: EchoServer;
  let techEnv: NodeJS.ProcessEnv;
  let tech2Env: NodeJS.ProcessEnv;
  let problemNumber = '';
  let localId = '';
  let attachmentId = '';
  const ran = new Set<string>();

  /** Runs `lifeline ARGS` as `command`, checks its exit code and that nothing unsafe is printed. */
  async function printed(
    command: string,
    args: string[],
    options: { code?: number; input?: string; env?: NodeJS.ProcessEnv } = {},
  ): Promise<CliResult> {
    const result = await runCli(args, {
      ...(options.input !== undefined ? { input: options.input } : {}),
      ...(options.env ? { env: options.env } : {}),
      timeoutMs: 60_000,
    });
    assert.equal(result.code, options.code ?? 0, `lifeline ${command}: ${result.stderr}${result.stdout}`);
    assertPrintable(`lifeline ${command} (stdout)`, result.stdout);
    assertPrintable(`lifeline ${command} (stderr)`, result.stderr);
    ran.add(command);
    return result;
  }

  /**
   * The command, and its --json form, which parses; unless `holdsText` is false (the answer has
   * none of the hostile text in a field of its own), the parse gives back the hostile text.
   */
  async function printedBoth(
    command: string,
    args: string[],
    options: { env?: NodeJS.ProcessEnv; holdsText?: boolean } = {},
  ): Promise<Printed> {
    const run = options.env ? { env: options.env } : {};
    const { stdout: text } = await printed(command, args, run);
    const json = JSON.parse((await printed(command, [...args, '--json'], run)).stdout) as unknown;
    if (options.holdsText !== false)
      assert.ok(
        holds(json, hostile) || holds(json, hostileFileName),
        `lifeline ${command} --json lost the text`,
      );
    return { text, json };
  }

  const hub = (...args: string[]) => [...args, '--data', cluster.hubDir];
  const agent = (...args: string[]) => [...args, '--data', cluster.agentDir];

  before(async () => {
    echo = await startEchoServer();
    cluster = new Cluster();
    [cluster.stationPort = 0, cluster.apiPort = 0] = await freePorts(2);
    await printed(
      'hub init',
      hub(
        'hub',
        'init',
        '--listen',
        `127.0.0.1:${cluster.stationPort}`,
        '--api-listen',
        `127.0.0.1:${cluster.apiPort}`,
      ),
    );
    await cluster.startHub();
    const tokenFile = join(cluster.root, 'token');
    await inParallel([
      () =>
        printed('hub user add', hub('hub', 'user', 'add', 'tech', '--password-stdin'), {
          input: 'tech-password-1\n',
        }),
      () =>
        printed(
          'hub user add',
          hub('hub', 'user', 'add', 'tech2', '--group', 'technicians', hostile, '--password-stdin'),
          { input: 'tech-password-2\n' },
        ),
      () => printed('hub token create', hub('hub', 'token', 'create', '--out', tokenFile)),
    ]);
    const enrolled = await printed(
      'agent enroll',
      agent('agent', 'enroll', '--token-file', tokenFile, '--name', hostile),
    );
    cluster.stationId = /Station ID: (\S+)/.exec(enrolled.stdout)?.[1] ?? '';
    await printed('agent service add', agent('agent', 'service', 'add', 'echo', '--port', String(echo.port)));
    appendFileSync(join(cluster.agentDir, 'agent.yaml'), 'callhome:\n  pollInterval: 1s\n');
    await cluster.startAgent();
    await inParallel([
      () => printed('agent access', agent('agent', 'access', 'restricted')),
      () => printed('agent remote', agent('agent', 'remote', 'on')),
    ]);
    await cluster.waitForTunnel();
    techEnv = { LIFELINE_HOME: join(cluster.root, 'home-tech') };
    tech2Env = { LIFELINE_HOME: join(cluster.root, 'home-tech2') };
    const login = [
      'login',
      '--hub',
      cluster.hubUrl,
      '--password-stdin',
      '--ca-file',
      join(cluster.hubDir, 'ca.pem'),
    ];
    const [, login2] = (await inParallel([
      () => printed('login', [...login, '--user', 'tech'], { input: 'tech-password-1\n', env: techEnv }),
      () => printed('login', [...login, '--user', 'tech2'], { input: 'tech-password-2\n', env: tech2Env }),
    ])) as [CliResult, CliResult];
    assert.match(login2.stdout, /\(groups: \ufffd\[2J\ufffd\]0;pwned.*evil, technicians; with password\)/);
  });

  after(async () => {
    await cluster?.close();
    await echo?.close();
  });

  test('what a station reports: inventory, systems, performance, problems and a file', async () => {
    const systemsFile = join(cluster.root, 'systems.yaml');
    const system = {
      serial: hostile,
      type: hostile,
      model: hostile,
      name: hostile,
      firmware: { [hostile]: hostile },
      parts: [{ name: hostile, partNumber: hostile, location: hostile }],
    };
    writeFileSync(systemsFile, JSON.stringify({ systems: [system] }));
    // Both before the hostile report below, which is to be the latest the hub has.
    await printed('agent inventory send', agent('agent', 'inventory', 'send', '--json'));
    await printed('agent inventory send', agent('agent', 'inventory', 'send', '--file', systemsFile));
    await printed(
      'agent system-status',
      agent('agent', 'system-status', hostile, 'warning', '--detail', hostile),
    );

    // The appliance software reports through the admin API; the agent sends it with its certificate.
    const appliance = {
      hostName: hostile,
      os: hostile,
      kernel: hostile,
      cpu: { model: hostile, count: 2 },
      memoryBytes: 2 ** 30,
      lifelineVersion: hostile,
      serial: hostile,
      model: hostile,
      firmware: hostile,
    };
    await cluster.admin('POST', '/v1/reports', {
      kind: 'inventory',
      payload: { collectedAtMs: Date.now(), digest: 'a'.repeat(64), appliance, systems: [system] },
    });
    const disk = { name: hostile, readBytesPerSec: 1, writeBytesPerSec: 2, readIops: 3, writeIops: 4 };
    await cluster.admin('POST', '/v1/reports', {
      kind: 'performance',
      payload: {
        source: hostile,
        samples: [
          {
            atMs: Date.now() - 1000,
            spanMs: 1000,
            network: [{ name: hostile, rxBytesPerSec: 1, txBytesPerSec: 2 }],
            disks: [disk],
          },
        ],
      },
    });
    const attachment = join(cluster.root, hostileFileName);
    writeFileSync(attachment, randomBytes(70_000));
    const opened = await printed(
      'agent problem open',
      agent(
        'agent',
        'problem',
        'open',
        '--summary',
        hostile,
        '--severity',
        'major',
        '--code',
        hostile,
        '--description',
        hostile,
        '--system',
        hostile,
        '--attach',
        attachment,
      ),
    );
    localId = /Problem (PB-[0-9A-Z]{6})/.exec(opened.stdout)?.[1] ?? '';
    assert.match(opened.stdout, /Uploaded \ufffd2J\ufffdevil\ufffd\.txt to the hub/);
    await printed('agent problem update', agent('agent', 'problem', 'update', localId, '--note', hostile));
    await waitFor('every report delivered', async () => {
      const { status } = (await cluster.admin('GET', '/v1/outbox')) as { status: { pending: number } };
      return status.pending === 0;
    });

    const [inventory, , stations, seen, problems] = (await inParallel([
      () => printedBoth('hub inventory', hub('hub', 'inventory', cluster.stationId)),
      () => printed('hub performance', hub('hub', 'performance', cluster.stationId, '--source', hostile)),
      () => printedBoth('hub stations', hub('hub', 'stations')),
      () => printedBoth('stations', ['stations'], { env: techEnv }),
      () => printedBoth('hub problems', hub('hub', 'problems')),
      () => printed('hub station list', hub('hub', 'station', 'list')),
      () => printed('agent systems', agent('agent', 'systems')),
      () => printed('agent problems', agent('agent', 'problems')),
      () => printedBoth('agent attachments', agent('agent', 'attachments')),
      () => printed('agent outbox', agent('agent', 'outbox')),
      () => printed('agent sent', agent('agent', 'sent')),
      () => printed('agent inventory show', agent('agent', 'inventory', 'show')),
      // Node names are the operator's (hub init --node-name), not a station's: checked as printed.
      () => printedBoth('hub nodes', hub('hub', 'nodes'), { holdsText: false }),
    ])) as [Printed, Printed, Printed, Printed, Printed];
    const found = inventory.json as { inventory: { appliance: unknown; systems: unknown[] } };
    assert.deepEqual(found.inventory.appliance, appliance);
    assert.deepEqual(found.inventory.systems, [system]);
    assert.match(
      inventory.text,
      /^ {2}host name {2}\ufffd\[2J\ufffd\]0;pwned\ufffd\ufffd\]52;c;cHduZWQ=\ufffd\ufffd31m\ufffd\ufffd\ufffdevil$/m,
    );
    assert.equal((stations.json as { name: string }[])[0]?.name, hostile);
    assert.equal((seen.json as { name: string }[])[0]?.name, hostile);
    const problem = (problems.json as { number: string; summary: string }[])[0];
    assert.equal(problem?.summary, hostile);
    problemNumber = problem?.number ?? '';
    const ticket = (await printedBoth('hub problem show', hub('hub', 'problem', 'show', problemNumber)))
      .json as { attachments: { id: string; name: string }[] };
    attachmentId = ticket.attachments[0]?.id ?? '';
    assert.equal(ticket.attachments[0]?.name, hostileFileName);
  });

  test("what the vendor's people write: data requests, error data and fixes", async () => {
    const fixFile = join(cluster.root, 'fix.bin');
    writeFileSync(fixFile, randomBytes(10_000));
    const copy = join(cluster.root, 'copy.bin');
    const [, , got] = (await inParallel([
      () => printed('hub data request', hub('hub', 'data', 'request', problemNumber, '--note', hostile)),
      () =>
        printed(
          'hub data request',
          hub('hub', 'data', 'request', problemNumber, '--note', hostile, '--json'),
        ),
      () => printed('hub data get', hub('hub', 'data', 'get', attachmentId, '--out', copy)),
      () =>
        printed(
          'hub fix publish',
          hub('hub', 'fix', 'publish', fixFile, '--name', 'fw', '--version', '1.0', '--description', hostile),
        ),
    ])) as [CliResult, CliResult, CliResult];
    assert.match(got.stdout, /^\ufffd2J\ufffdevil\ufffd\.txt \(68 KiB\) written to /m);
    const requests = await waitFor('the data requests at the agent', async () => {
      const answer = (await cluster.admin('GET', '/v1/data-requests')) as { requests: { id: string }[] };
      return answer.requests.length === 2 ? answer.requests : undefined;
    });
    const [dataRequests] = (await inParallel([
      () => printedBoth('agent data-requests', agent('agent', 'data-requests')),
      () => printed('hub data delete', hub('hub', 'data', 'delete', attachmentId)),
      () => printed('hub fixes', hub('hub', 'fixes')),
      () => printed('agent fixes', agent('agent', 'fixes')),
      () =>
        printed(
          'agent fix download',
          agent('agent', 'fix', 'download', 'fw', '--out', join(cluster.root, 'fixes')),
        ),
    ])) as [Printed];
    assert.equal((dataRequests.json as { note: string }[])[0]?.note, hostile);
    await inParallel([
      () =>
        printed(
          'agent data-request answer',
          agent('agent', 'data-request', 'answer', requests[0]?.id ?? '', '--note', hostile),
        ),
      () =>
        printed(
          'agent data-request decline',
          agent('agent', 'data-request', 'decline', requests[1]?.id ?? '', '--note', hostile),
        ),
    ]);
  });

  test('what technicians send and the appliance answers: reasons, notes, refusals', async () => {
    const added = await printed(
      'agent acl add',
      agent('agent', 'acl', 'add', '--technician', 'tech', '--note', hostile),
    );
    const ruleId = /Rule (\S+) added/.exec(added.stdout)?.[1] ?? '';
    const connect = ['connect', cluster.stationId, '--service', 'echo', '--stdio', '--reason', hostile];
    const [session, pending] = (await inParallel([
      () => printed('connect', connect, { input: 'hello', env: techEnv }),
      () => printed('connect', connect, { code: 1, env: tech2Env }),
      () => printed('agent acl list', agent('agent', 'acl', 'list')),
    ])) as [CliResult, CliResult];
    assert.equal(session.stdout, 'hello');
    assert.match(pending.stderr, /\(POLICY_PENDING_APPROVAL\)$/m);
    const requests = (await printedBoth('agent requests', agent('agent', 'requests'))).json as {
      id: string;
      reason: string;
    }[];
    assert.equal(requests[0]?.reason, hostile);
    await printed('agent reject', agent('agent', 'reject', requests[0]?.id ?? '', '--note', hostile));
    const [rejected, target] = (await inParallel([
      // The administrator's note comes back to the technician in the refusal.
      () =>
        printed('connect', ['connect', cluster.stationId, '--service', 'echo', '--stdio'], {
          code: 1,
          env: tech2Env,
        }),
      // A service name is the technician's own text, and the agent quotes it back.
      () =>
        printed('connect', ['connect', cluster.stationId, '--service', '\u009b31mweb\u202e', '--stdio'], {
          code: 1,
          env: techEnv,
        }),
      () => printed('agent mfa', agent('agent', 'mfa', 'optional')),
      () => printed('agent sessions', agent('agent', 'sessions')),
      () => printed('agent status', agent('agent', 'status')),
    ])) as [CliResult, CliResult];
    assert.match(
      rejected.stderr,
      /was rejected by the appliance administrator: \ufffd\[2J.*\(POLICY_REQUEST_REJECTED\)$/m,
    );
    assert.match(target.stderr, /\(POLICY_TARGET_INVALID\)$/m);
    // After tech2's refusal: the grant lets tech2 in once.
    await printed(
      'agent grant-once',
      agent('agent', 'grant-once', '--technician', 'tech2', '--within', '5m'),
    );
    await printed('agent stop', agent('agent', 'stop', '--all'));
    await printed('agent acl remove', agent('agent', 'acl', 'remove', ruleId));

    const [entries, jsonl, , , users] = (await inParallel([
      () => printedBoth('agent audit', agent('agent', 'audit')),
      () => printed('agent audit', agent('agent', 'audit', '--jsonl')),
      () => printed('agent audit', agent('agent', 'audit', '--verify')),
      () => printedBoth('hub audit', hub('hub', 'audit')),
      () => printedBoth('hub user list', hub('hub', 'user', 'list'), { holdsText: false }),
    ])) as [Printed, CliResult, CliResult, Printed, Printed];
    assert.ok((entries.json as { detail: { reason?: string } }[]).some((e) => e.detail.reason === hostile));
    const lines = jsonl.stdout.trimEnd().split('\n');
    assert.ok(lines.some((line) => holds(JSON.parse(line), hostile)));
    const tech2 = (users.json as { name: string; groups: string }[]).find((u) => u.name === 'tech2');
    assert.deepEqual(tech2?.groups.split(',').sort(), [hostile, 'technicians'].sort());
  });

  test('the rest of the commands, and the logs of the hub and the agent', async () => {
    await inParallel([
      () => printed('agent service list', agent('agent', 'service', 'list')),
      () => printed('agent diagnostics', agent('agent', 'diagnostics')),
      () => printed('agent callhome test', agent('agent', 'callhome', 'test')),
      () => printed('hub retention show', hub('hub', 'retention', 'show')),
      () => printed('hub retention run', hub('hub', 'retention', 'run')),
      () => printed('hub problem close', hub('hub', 'problem', 'close', problemNumber)),
    ]);
    await printed('agent callhome pause', agent('agent', 'callhome', 'pause', '--for', '1m'));
    await printed('agent problem close', agent('agent', 'problem', 'close', localId, '--note', hostile));
    await printed('agent release', agent('agent', 'release', '--all'));
    await printed('agent callhome resume', agent('agent', 'callhome', 'resume'));
    await printed('agent service remove', agent('agent', 'service', 'remove', 'echo'));
    await printed('hub station revoke', hub('hub', 'station', 'revoke', cluster.stationId));

    // pino's JSON lines and the processes' own messages: the same text, none of it raw.
    assert.ok((cluster.agent?.stdout ?? '').length > 0);
    assertPrintable('lifeline hub start (stdout)', cluster.hub?.stdout ?? '');
    assertPrintable('lifeline hub start (stderr)', cluster.hub?.stderr ?? '');
    assertPrintable('lifeline agent start (stdout)', cluster.agent?.stdout ?? '');
    assertPrintable('lifeline agent start (stderr)', cluster.agent?.stderr ?? '');

    const missing = cliCommands().filter((command) => !ran.has(command) && !(command in notRun));
    assert.deepEqual(missing, [], 'every command is run here or named in notRun with the reason');
    for (const command of Object.keys(notRun).filter((c) => c !== 'agent sent --show'))
      assert.ok(cliCommands().includes(command), `notRun names ${command}, which the CLI does not have`);
  });
});
