// A full disk is an answer, not a crash (issue 18, acceptance 4): a real agent and hub whose data
// directories are on small tmpfs mounts, filled to the last byte. A new report gets 507 STORE_FULL
// naming the directory and the free space, the condition shows in `agent status`, /health and the
// metrics, and once space is freed the next report is taken and delivered without a restart, with
// nothing accepted before lost or stored twice. Mounting needs root (CI runs as root).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { TestBrowser } from '../harness/browser.js';
import { Cluster, runCli, waitFor } from '../harness/cluster.js';

const skip = process.getuid?.() === 0 ? false : 'mounting a tmpfs needs root (CI runs these tests as root)';

function mountTmpfs(dir: string, size: string): void {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
}

/** Writes a filler file until the filesystem has no byte left; returns its path. */
async function fillUp(dir: string): Promise<string> {
  const path = join(dir, 'filler');
  const file = await open(path, 'w');
  try {
    for (const size of [1024 * 1024, 64 * 1024, 4096, 512]) {
      for (;;) {
        try {
          await file.write(Buffer.alloc(size, 1));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          break;
        }
      }
    }
  } finally {
    await file.close();
  }
  return path;
}

function escaped(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
  text: string;
}

function answerOf(status: number, text: string): Answer {
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Not JSON (the metrics): the text is there.
  }
  return { status, body, text };
}

/** One request to the agent's admin API (HTTP on loopback), whatever its status. */
async function call(
  url: string,
  options: { method?: string; token?: string; body?: unknown } = {},
): Promise<Answer> {
  const response = await fetch(url, {
    method: options.method ?? 'GET',
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  return answerOf(response.status, await response.text());
}

/** GET on the hub's technician API, with a bearer token if given. */
async function hubGet(cluster: Cluster, path: string, token?: string): Promise<Answer> {
  const answer = await cluster.hubGet(path, token ? { authorization: `Bearer ${token}` } : {});
  return answerOf(answer.status, answer.text);
}

/** Log lines of a process that say the store-full condition started (true) or ended (false). */
function conditionLogLines(output: string, full: boolean): number {
  return output.split('\n').filter((line) => line.includes(`"storeFull":${String(full)}`)).length;
}

async function signIntoConsole(
  browser: TestBrowser,
  cluster: Cluster,
  user: string,
  password: string,
): Promise<Page> {
  const page = await browser.page();
  await page.goto(`${cluster.hubUrl}/ui/console/`);
  await page.getByLabel('User').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('live-state').filter({ hasText: 'Live' }).waitFor();
  return page;
}

interface HubProblem {
  number: string;
  summary: string;
}

describe('an agent whose data directory is on a full 20 MiB tmpfs', { skip }, () => {
  let cluster: Cluster;
  let mounted = false;
  let browser: TestBrowser | undefined;

  const adminUrl = (path: string) => `http://127.0.0.1:${cluster.adminPort}${path}`;
  const adminToken = () => readFileSync(join(cluster.agentDir, 'admin-token'), 'utf8').trim();
  const hubProblems = async (): Promise<HubProblem[]> =>
    JSON.parse(
      (await cluster.cli(['hub', 'problems', '--json', '--data', cluster.hubDir])).stdout,
    ) as HubProblem[];
  const openProblem = (summary: string) =>
    runCli([
      'agent',
      'problem',
      'open',
      '--summary',
      summary,
      '--severity',
      'minor',
      '--data',
      cluster.agentDir,
    ]);

  before(async () => {
    cluster = new Cluster();
    await cluster.initHub();
    await cluster.startHub();
    mountTmpfs(cluster.agentDir, '20m');
    mounted = true;
    await cluster.enroll();
    await cluster.startAgent();
    browser = await TestBrowser.launch();
  });

  after(async () => {
    await browser?.close();
    await cluster?.stopAgent();
    if (mounted) execFileSync('umount', [cluster.agentDir]);
    await cluster?.close();
  });

  test('answers a new report with 507 STORE_FULL, shows it, and takes and delivers the next one once space is freed', async () => {
    const agentPid = cluster.agent?.child.pid;
    // The Diagnostics page, open before the disk fills: its banner comes and goes live.
    const page = await (browser as TestBrowser).page();
    await page.goto(adminUrl(`/ui/diagnostics/#token=${adminToken()}`));
    await page.getByTestId('live-state').filter({ hasText: 'Live' }).waitFor();
    const banner = page.getByTestId('store-full-banner');
    assert.equal(await banner.count(), 0);
    const accepted = await openProblem('accepted before the disk filled');
    assert.equal(accepted.code, 0, accepted.stderr);
    await waitFor('the first report on the hub', async () =>
      (await hubProblems()).some((p) => p.summary === 'accepted before the disk filled'),
    );

    const filler = await fillUp(cluster.agentDir);

    // The admin API's answer: 507 with the code, the directory and the free space.
    const refused = await call(adminUrl('/v1/problems'), {
      method: 'POST',
      token: adminToken(),
      body: { summary: 'sent while the disk was full', severity: 'minor' },
    });
    assert.equal(refused.status, 507, refused.text);
    assert.equal(refused.body.code, 'STORE_FULL');
    assert.match(
      String(refused.body.message),
      new RegExp(`${escaped(cluster.agentDir)} has [\\d.]+ (bytes|KiB) free, less than the 8 MiB kept free`),
    );
    // What the administrator sees from the CLI.
    const refusedCli = await openProblem('sent from the CLI while the disk was full');
    assert.equal(refusedCli.code, 1);
    assert.match(refusedCli.stderr, /the disk is full: .* \(STORE_FULL\)/);

    // `agent status` says what is full, how much is free, since when and what is refused.
    const shown = await cluster.cli(['agent', 'status', '--data', cluster.agentDir]);
    assert.match(
      shown.stdout,
      new RegExp(`Storage +FULL since .*: the disk of ${escaped(cluster.agentDir)} is full`),
    );
    assert.match(shown.stdout, new RegExp(`Free space +[\\d.]+ (bytes|KiB) in ${escaped(cluster.agentDir)}`));
    assert.match(shown.stdout, /Refused +new reports and attachments \(507 STORE_FULL\)/);
    assert.match(shown.stdout, /Sessions +still allowed: the audit log can be written/);
    const status = JSON.parse(
      (await cluster.cli(['agent', 'status', '--json', '--data', cluster.agentDir])).stdout,
    ) as {
      storeFull: { dir: string; reason: string; freeBytes: number } | null;
    };
    assert.equal(status.storeFull?.dir, cluster.agentDir);
    assert.equal(status.storeFull.reason, 'disk');
    assert.ok(status.storeFull.freeBytes < 8 * 1024 * 1024);

    // A setting change needs an audit entry, which may still fit into room SQLite's files hold:
    // change it until one is refused. It is 507 STORE_FULL naming agent.db, never a 500.
    let auditRefusal: Answer | undefined;
    for (let i = 0; i < 500 && !auditRefusal; i++) {
      const answer = await call(adminUrl('/v1/access'), {
        method: 'PUT',
        token: adminToken(),
        body: { level: i % 2 === 0 ? 'full' : 'restricted' },
      });
      if (answer.status !== 200) auditRefusal = answer;
    }
    assert.equal(auditRefusal?.status, 507, auditRefusal?.text);
    assert.equal(auditRefusal.body.code, 'STORE_FULL');
    assert.match(String(auditRefusal.body.message), /^the audit log cannot be written \(the disk is full: /);
    assert.match(
      (await cluster.cli(['agent', 'status', '--data', cluster.agentDir])).stdout,
      /Sessions +REFUSED: the audit log cannot be written/,
    );

    // The Diagnostics page shows it plainly.
    await banner.waitFor();
    const bannerText = (await banner.textContent()) ?? '';
    assert.match(
      bannerText,
      new RegExp(`Storage full since .*: the disk of ${escaped(cluster.agentDir)} is full`),
    );
    assert.match(bannerText, /New reports and attachments are refused \(507 STORE_FULL\)/);
    await page.getByTestId('store-full-banner').filter({ hasText: 'Sessions: refused' }).waitFor();

    // /health and the metrics say so too.
    const health = await call(adminUrl('/health'));
    assert.deepEqual([health.status, health.body], [503, { status: 'store-full' }]);
    const metrics = await call(adminUrl('/metrics'), { token: adminToken() });
    assert.match(metrics.text, /^lifeline_agent_store_full 1$/m);

    // Space comes back: the very next report is taken and delivered, by the same process.
    rmSync(filler);
    const next = await openProblem('accepted after space was freed');
    assert.equal(next.code, 0, next.stderr);
    const onHub = await waitFor('the report on the hub', async () => {
      const problems = await hubProblems();
      return problems.some((p) => p.summary === 'accepted after space was freed') ? problems : undefined;
    });
    assert.equal(cluster.agent?.child.pid, agentPid, 'no restart');
    assert.equal(cluster.agent?.child.exitCode, null);
    // Nothing accepted was lost or stored twice; nothing refused was stored.
    const summaries = onHub.map((p) => p.summary).sort();
    assert.deepEqual(summaries, ['accepted after space was freed', 'accepted before the disk filled']);
    assert.equal((await call(adminUrl('/health'))).status, 200);
    const recovered = JSON.parse(
      (await cluster.cli(['agent', 'status', '--json', '--data', cluster.agentDir])).stdout,
    ) as {
      storeFull: unknown;
    };
    assert.equal(recovered.storeFull, null);
    await banner.waitFor({ state: 'detached' });
    // The audit log took entries again by itself, and its chain is whole.
    await waitFor(
      'the audit log to be writable again',
      async () => ((await cluster.admin('GET', '/v1/status')) as { auditHealthy: boolean }).auditHealthy,
    );
    const audit = await runCli(['agent', 'audit', '--verify', '--data', cluster.agentDir]);
    assert.equal(audit.code, 0, audit.stdout + audit.stderr);
    // The condition was logged once when it started and once when it ended, not per refusal.
    const log = cluster.agent?.stdout ?? '';
    assert.equal(conditionLogLines(log, true), 1, log);
    assert.equal(conditionLogLines(log, false), 1, log);
  });
});

describe('a hub whose data directory is on a full tmpfs', { skip }, () => {
  let cluster: Cluster;
  let mounted = false;
  let browser: TestBrowser | undefined;

  const sent = async (): Promise<Array<{ reportId: string; status: number; answer: string }>> =>
    JSON.parse((await cluster.cli(['agent', 'sent', '--json', '--data', cluster.agentDir])).stdout) as Array<{
      reportId: string;
      status: number;
      answer: string;
    }>;

  before(async () => {
    cluster = new Cluster();
    mountTmpfs(cluster.hubDir, '24m');
    mounted = true;
    await cluster.initHub();
    // The default reserve (64 MiB) is more than this whole filesystem.
    appendFileSync(join(cluster.hubDir, 'hub.yaml'), 'store:\n  minFreeMb: 4\n');
    await cluster.startHub();
    await cluster.enroll();
    await cluster.startAgent();
    browser = await TestBrowser.launch({
      trustCertPems: [readFileSync(join(cluster.hubDir, 'server.pem'), 'utf8')],
    });
  });

  after(async () => {
    await browser?.close();
    await cluster?.stopAgent();
    await cluster?.stopHub();
    if (mounted) execFileSync('umount', [cluster.hubDir]);
    await cluster?.close();
  });

  test("a station's report gets 507 STORE_FULL, the agent keeps it, and it is delivered once when space returns", async () => {
    await cluster.addUser('ops', 'ops-password-1', 'support');
    const login = await cluster.login('ops', 'ops-password-1');
    assert.equal(login.code, 0, login.stderr);
    const token = (
      JSON.parse(readFileSync(join(cluster.techHome, 'credentials.json'), 'utf8')) as { token: string }
    ).token;
    const metricsToken = readFileSync(join(cluster.hubDir, 'metrics-token'), 'utf8').trim();
    // The console, signed in while there is room (a login is a write too).
    const page = await signIntoConsole(browser as TestBrowser, cluster, 'ops', 'ops-password-1');
    const banner = page.getByTestId('store-full-banner');
    const filler = await fillUp(cluster.hubDir);
    const opened = await cluster.cli([
      'agent',
      'problem',
      'open',
      '--summary',
      'reported while the hub was full',
      '--severity',
      'major',
      '--data',
      cluster.agentDir,
    ]);
    const reportId = /\(report ([0-9a-f]{32})\)/.exec(opened.stdout)?.[1];
    assert.ok(reportId, opened.stdout);

    // The hub refused it with 507 STORE_FULL naming its directory; the agent keeps it pending.
    const refusal = await waitFor('the hub to refuse the report', async () =>
      (await sent()).find((t) => t.reportId === reportId && t.status === 507),
    );
    const answer = JSON.parse(refusal.answer) as { code: string; message: string };
    assert.equal(answer.code, 'STORE_FULL');
    assert.match(answer.message, new RegExp(`${escaped(cluster.hubDir)} has [\\d.]+ (bytes|KiB|MiB) free`));
    const outbox = (await cluster.admin('GET', '/v1/outbox')) as {
      waiting: Array<{ id: string; state: string }>;
    };
    assert.equal(outbox.waiting.find((r) => r.id === reportId)?.state, 'pending');

    // The hub shows its condition: /health, the console's status route, the gauge.
    const health = await hubGet(cluster, '/health');
    assert.deepEqual([health.status, health.body], [503, { status: 'store-full' }]);
    const hubStatus = await hubGet(cluster, '/v1/hub/status', token);
    const storeFull = hubStatus.body.storeFull as { dir: string; reason: string } | null;
    assert.equal(storeFull?.dir, cluster.hubDir, hubStatus.text);
    assert.equal(storeFull.reason, 'disk');
    assert.match((await hubGet(cluster, '/metrics', metricsToken)).text, /^lifeline_hub_store_full 1$/m);
    await banner.waitFor();
    const bannerText = (await banner.textContent()) ?? '';
    assert.match(bannerText, new RegExp(`the disk of ${escaped(cluster.hubDir)} is full`));
    assert.match(bannerText, /Stations' reports and attachment chunks are refused \(507 STORE_FULL\)/);

    rmSync(filler);
    // Delivered by the agent's next attempt (its back-off), once.
    await waitFor(
      'the report delivered once space returned',
      async () => (await sent()).find((t) => t.reportId === reportId && t.status === 201),
      30_000,
    );
    const problems = JSON.parse(
      (await cluster.cli(['hub', 'problems', '--json', '--data', cluster.hubDir])).stdout,
    ) as HubProblem[];
    assert.equal(problems.filter((p) => p.summary === 'reported while the hub was full').length, 1);
    assert.equal((await hubGet(cluster, '/health')).status, 200);
    assert.equal((await hubGet(cluster, '/v1/hub/status', token)).body.storeFull, null);
    await banner.waitFor({ state: 'detached' });
    const log = cluster.hub?.stdout ?? '';
    assert.equal(conditionLogLines(log, true), 1, log);
    assert.equal(conditionLogLines(log, false), 1, log);
  });
});
