// The web pages in a real browser (Debian's chromium): the appliance's Diagnostics page and the hub
// console, against a real hub, agent and technician. Screenshots of each page go to docs/screenshots.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { CliProcess, Cluster, freePort, waitFor } from './harness/cluster.js';
import { startEchoServer, type EchoServer } from './harness/echo-server.js';
import { TestBrowser, saveScreenshot } from './harness/browser.js';

interface AuditJson {
  seq: number;
  actor: string;
  action: string;
  detail: Record<string, unknown>;
}

/** One line through the echo service on a forwarded local port. */
function echoThrough(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      answer += chunk;
      if (answer.includes('\n')) {
        socket.end();
        resolve(answer.trim());
      }
    });
    socket.once('error', reject);
    socket.write(`${text}\n`);
  });
}

describe('web pages', () => {
  let cluster: Cluster;
  let echo: EchoServer;
  let browser: TestBrowser;
  let page: Page;
  let adminToken: string;

  const diagnosticsUrl = () => `http://127.0.0.1:${cluster.adminPort}/ui/diagnostics/#token=${adminToken}`;
  const audit = async (): Promise<AuditJson[]> =>
    ((await cluster.admin('GET', '/v1/audit?limit=10000')) as { entries: AuditJson[] }).entries;

  before(async () => {
    echo = await startEchoServer();
    cluster = await Cluster.start({ access: 'restricted', services: { echo: echo.port } });
    adminToken = readFileSync(join(cluster.agentDir, 'admin-token'), 'utf8').trim();
    browser = await TestBrowser.launch({
      trustCertPems: [readFileSync(join(cluster.hubDir, 'server.pem'), 'utf8')],
    });
    page = await browser.page();
  });

  after(async () => {
    await browser?.close();
    await cluster?.close();
    await echo?.close();
  });

  test('the Diagnostics page signs in from the printed link and shows the station and its tunnel', async () => {
    await page.goto(diagnosticsUrl());
    await page.getByTestId('station-id').waitFor();
    assert.equal(await page.getByTestId('station-id').textContent(), cluster.stationId);
    await page.getByTestId('tunnel-state').filter({ hasText: 'connected' }).waitFor();
    assert.equal(await page.getByTestId('header-pending-count').textContent(), '0');
    // The credential left the address bar at once.
    assert.doesNotMatch(page.url(), /token=/);
    await page.getByTestId('live-state').filter({ hasText: 'Live' }).waitFor();
  });

  test('a refused technician raises the pending count without a reload; accepting lets connect --wait proceed', async () => {
    const port = await freePort();
    const technician = cluster.track(
      new CliProcess(
        [
          'connect',
          cluster.stationId,
          '--service',
          'echo',
          '--listen',
          `127.0.0.1:${port}`,
          '--wait',
          '2m',
          '--reason',
          'case 4711',
        ],
        cluster.techEnv,
      ),
    );
    await waitFor('the technician to wait for approval', () =>
      /waiting for the decision/.test(technician.stderr),
    );
    // No reload: the count arrives through the live feed.
    await page.getByTestId('header-pending-count').filter({ hasText: '1' }).waitFor({ timeout: 10_000 });
    const request = page.locator('[data-testid^="request-AR-"]');
    await request.waitFor();
    assert.match((await request.textContent()) ?? '', /case 4711/);
    await saveScreenshot(page, 'diagnostics');
    await request.getByRole('button', { name: 'Accept' }).click();
    await waitFor('the technician to be let in', () => /Forwarding/.test(technician.stderr), 15_000);
    assert.equal(await echoThrough(port, 'through the accepted request'), 'through the accepted request');
    await page.getByTestId('header-pending-count').filter({ hasText: '0' }).waitFor();
    const accepted = (await audit()).filter((e) => e.action === 'access-request.accepted');
    assert.equal(accepted.length, 1);
    // The page acts through the admin API as the CLI does: the same actor and the same kind of entry.
    assert.equal(accepted[0]?.actor, 'admin@127.0.0.1');

    // A live session: the page lists it; "Stop all service sessions" ends it for the technician.
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.on('error', () => undefined);
    // Read (and drop) the echo: an unread socket never sees its end.
    socket.resume();
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write('hold the session open\n');
    await page.getByTestId('sessions-count').filter({ hasText: '1' }).waitFor({ timeout: 10_000 });
    await saveScreenshot(page, 'diagnostics-session');
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByTestId('stop-all').click();
    await closed;
    await page.getByTestId('sessions-count').filter({ hasText: '0' }).waitFor();
    const stopAll = (await audit()).filter((e) => e.action === 'session.stop-all');
    assert.equal(stopAll.length, 1);
    assert.equal(stopAll[0]?.actor, 'admin@127.0.0.1');
    await technician.stop();
  });

  test('a setting changed on the page is audited exactly as the same change from the CLI', async () => {
    await page.locator('#access-level').selectOption('full');
    await page.getByTestId('access-save').click();
    await waitFor('the page change in the audit log', async () =>
      (await audit()).some((e) => e.action === 'setting.access' && e.detail.to === 'full'),
    );
    await cluster.cli(['agent', 'access', 'restricted', '--data', cluster.agentDir]);
    const changes = (await audit()).filter((e) => e.action === 'setting.access').slice(-2);
    assert.deepEqual(
      changes.map((e) => ({ actor: e.actor, action: e.action, keys: Object.keys(e.detail).sort() })),
      [
        { actor: 'admin@127.0.0.1', action: 'setting.access', keys: ['from', 'to'] },
        { actor: 'admin@127.0.0.1', action: 'setting.access', keys: ['from', 'to'] },
      ],
    );
  });

  test('a problem opened on the agent is found on the hub console', async () => {
    const opened = await cluster.cli([
      'agent',
      'problem',
      'open',
      '--summary',
      'Fan 3 failed',
      '--severity',
      'major',
      '--code',
      'B7006A22',
      '--data',
      cluster.agentDir,
    ]);
    assert.equal(opened.code, 0);
    const consolePage = await browser.context.newPage();
    await consolePage.goto(`${cluster.hubUrl}/ui/console/`);
    await consolePage.getByLabel('User').fill('tech');
    await consolePage.getByLabel('Password').fill('tech-password-1');
    await consolePage.getByRole('button', { name: 'Sign in' }).click();
    await consolePage.getByTestId('stations-table').waitFor();
    assert.match(
      (await consolePage.getByTestId('stations-table').textContent()) ?? '',
      new RegExp(cluster.stationId),
    );
    const row = consolePage.getByTestId('problems-table').locator('tr', { hasText: 'Fan 3 failed' });
    await row.waitFor({ timeout: 15_000 });
    await row.getByRole('button').click();
    await consolePage.getByTestId('problem-detail').waitFor();
    assert.match((await consolePage.getByTestId('problem-detail').textContent()) ?? '', /B7006A22/);
    // The Station ID search checks the check character as it is typed.
    const wrongCheck = cluster.stationId.slice(0, -1) + (cluster.stationId.endsWith('0') ? '1' : '0');
    await consolePage.getByTestId('station-search').fill(wrongCheck);
    await consolePage.getByTestId('station-search-help').filter({ hasText: /check/i }).waitFor();
    await consolePage.getByTestId('station-search').fill(cluster.stationId);
    // The hub applied its retention rules once at start: what that removed, rule by rule.
    const removed = consolePage.getByTestId('retention-removed');
    await removed.waitFor();
    const removedText = (await removed.textContent()) ?? '';
    assert.match(removedText, /Problem data files\s*0 files/);
    assert.match(removedText, /Closed problem reports\s*0 problems, 0 reports/);
    assert.match((await consolePage.getByTestId('retention-last-run').textContent()) ?? '', / by /);
    await saveScreenshot(consolePage, 'console');
    await consolePage.close();
  });

  test('a session requested on the hub console waits for approval on the appliance, then connects', async () => {
    const guestEnv = await cluster.technician('guest', 'guest-password-1');
    const consolePage = await browser.context.newPage();
    await consolePage.goto(`${cluster.hubUrl}/ui/console/`);
    await consolePage.getByLabel('User').fill('guest');
    await consolePage.getByLabel('Password').fill('guest-password-1');
    await consolePage.getByRole('button', { name: 'Sign in' }).click();
    await consolePage.getByTestId('request-station').fill(cluster.stationId);
    await consolePage.getByTestId('request-service').fill('echo');
    await consolePage.getByTestId('request-reason').fill('case 5150');
    await consolePage.getByTestId('request-session').click();
    const state = consolePage.getByTestId('request-state');
    await state.filter({ hasText: 'pending approval' }).waitFor({ timeout: 10_000 });
    // The appliance administrator sees it live and accepts it on the Diagnostics page.
    const request = page.locator('[data-testid^="request-AR-"]', { hasText: 'case 5150' });
    await request.waitFor({ timeout: 10_000 });
    await request.getByRole('button', { name: 'Accept' }).click();
    await state.filter({ hasText: 'approved' }).waitFor({ timeout: 10_000 });
    const port = await freePort();
    const connect = cluster.track(
      new CliProcess(
        ['connect', cluster.stationId, '--service', 'echo', '--listen', `127.0.0.1:${port}`],
        guestEnv,
      ),
    );
    await waitFor('guest to forward', () => /Forwarding/.test(connect.stderr));
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.on('error', () => undefined);
    socket.resume();
    socket.write('held open\n');
    await state.filter({ hasText: 'connected' }).waitFor({ timeout: 10_000 });
    await saveScreenshot(consolePage, 'console-session-request');
    socket.destroy();
    await connect.stop();
    await consolePage.close();
  });

  test('every control of both pages has a name and the Diagnostics page works from the keyboard', async () => {
    // Runs in the page: controls without a label, aria-label or text a screen reader could read.
    const unnamed = `JSON.stringify([...document.querySelectorAll('button, input, select, textarea')]
      .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
        && !(el.tagName === 'BUTTON' && el.textContent.trim()))
      .map((el) => el.outerHTML.slice(0, 120)))`;
    assert.deepEqual(JSON.parse(String(await page.evaluate(unnamed))), []);
    const consolePage = await browser.context.newPage();
    await consolePage.goto(`${cluster.hubUrl}/ui/console/`);
    await consolePage.getByLabel('User').waitFor();
    assert.deepEqual(JSON.parse(String(await consolePage.evaluate(unnamed))), []);
    await consolePage.close();
    // From the top of the page, Tab reaches the access level; the keyboard changes and saves it.
    await page.goto(diagnosticsUrl());
    await page.getByTestId('station-id').waitFor();
    let reached = false;
    for (let presses = 0; presses < 40 && !reached; presses++) {
      await page.keyboard.press('Tab');
      reached =
        String(await page.evaluate('document.activeElement && document.activeElement.id')) === 'access-level';
    }
    assert.ok(reached, 'Tab never reached the access level');
    const before = (await audit()).length;
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await waitFor('the keyboard change in the audit log', async () =>
      (await audit()).slice(before).some((e) => e.action === 'setting.access' && e.detail.to === 'full'),
    );
    await cluster.cli(['agent', 'access', 'restricted', '--data', cluster.agentDir]);
  });

  test('the Diagnostics page is usable on a narrow screen', async () => {
    const narrow = await TestBrowser.launch({ viewport: { width: 390, height: 844 } });
    try {
      const small = await narrow.page();
      await small.goto(diagnosticsUrl());
      await small.getByTestId('station-id').waitFor();
      // A string: this code runs in the page, whose DOM types the tests do not compile against.
      const overflow = Number(
        await small.evaluate('document.documentElement.scrollWidth - window.innerWidth'),
      );
      await saveScreenshot(small, 'diagnostics-narrow');
      assert.ok(overflow <= 1, `the page is ${overflow} px wider than the screen`);
    } finally {
      await narrow.close();
    }
  });
});
