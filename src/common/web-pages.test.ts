import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { registerWebPages } from './web-pages.js';

function builtPages(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-web-'));
  for (const sub of ['assets', 'diagnostics', 'console']) mkdirSync(join(dir, sub));
  writeFileSync(join(dir, 'diagnostics', 'index.html'), '<!doctype html><title>diagnostics</title>');
  writeFileSync(join(dir, 'console', 'index.html'), '<!doctype html><title>console</title>');
  writeFileSync(join(dir, 'assets', 'app-1234.js'), 'console.log(1)');
  writeFileSync(join(dir, 'secret.txt'), 'not a page');
  return dir;
}

test('serves the named page and the shared assets, with a strict content security policy', async () => {
  const app = Fastify();
  registerWebPages(app, ['diagnostics'], builtPages());
  const page = await app.inject({ method: 'GET', url: '/ui/diagnostics/' });
  assert.equal(page.statusCode, 200);
  assert.match(page.headers['content-type'] as string, /^text\/html/);
  assert.match(page.body, /diagnostics/);
  assert.match(page.headers['content-security-policy'] as string, /default-src 'self'; script-src 'self'/);
  assert.equal(page.headers['cache-control'], 'no-cache');
  const asset = await app.inject({ method: 'GET', url: '/ui/assets/app-1234.js' });
  assert.equal(asset.statusCode, 200);
  assert.match(asset.headers['cache-control'] as string, /immutable/);
  const bare = await app.inject({ method: 'GET', url: '/ui/diagnostics' });
  assert.equal(bare.statusCode, 301);
  assert.equal(bare.headers.location, '/ui/diagnostics/');
});

test('nothing else is reachable: other pages, other files, paths that climb out', async () => {
  const app = Fastify();
  registerWebPages(app, ['diagnostics'], builtPages());
  for (const url of [
    '/ui/console/',
    '/ui/secret.txt',
    '/ui/../package.json',
    '/ui/assets/../secret.txt',
    '/ui/%2e%2e/secret.txt',
    '/ui/assets/missing.js',
  ]) {
    const answer = await app.inject({ method: 'GET', url });
    assert.equal(answer.statusCode, 404, url);
    assert.doesNotMatch(answer.body, /not a page/, url);
  }
});

test('pages that were not built answer 503 with how to build them', async () => {
  const app = Fastify();
  registerWebPages(app, ['diagnostics'], join(tmpdir(), 'lifeline-no-such-dir'));
  const answer = await app.inject({ method: 'GET', url: '/ui/diagnostics/' });
  assert.equal(answer.statusCode, 503);
  assert.match(answer.body, /npm run build/);
});
