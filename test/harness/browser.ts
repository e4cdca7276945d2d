// A real browser for the web-page tests: Debian's chromium driven by playwright-core, headless, with
// a fresh profile each time. Screenshots go to docs/screenshots (the README shows them).

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate, createHash } from 'node:crypto';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { repoRoot } from './cluster.js';

export const chromiumPath = process.env.LIFELINE_CHROMIUM ?? '/usr/bin/chromium';
export const screenshotsDir = join(repoRoot, 'docs', 'screenshots');

const chromiumFlags = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export class TestBrowser {
  readonly context: BrowserContext;
  readonly #profile: string;

  private constructor(context: BrowserContext, profile: string) {
    this.context = context;
    this.#profile = profile;
  }

  /**
   * `trustCertPems`: server certificates (the hub's, from its private CA) the browser accepts by
   * their public key, as an operator would install the hub CA; nothing else is trusted.
   */
  static async launch(
    options: { viewport?: { width: number; height: number }; trustCertPems?: string[] } = {},
  ): Promise<TestBrowser> {
    const viewport = options.viewport ?? { width: 1280, height: 800 };
    const spkiPins = (options.trustCertPems ?? []).map(spkiSha256);
    const profile = mkdtempSync(join(tmpdir(), 'lifeline-chromium-'));
    // A persistent context is how playwright takes a --user-data-dir: a fresh one per launch.
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: [
        ...chromiumFlags,
        ...(spkiPins.length ? [`--ignore-certificate-errors-spki-list=${spkiPins.join(',')}`] : []),
      ],
      viewport,
    });
    return new TestBrowser(context, profile);
  }

  async page(): Promise<Page> {
    return this.context.pages()[0] ?? (await this.context.newPage());
  }

  async close(): Promise<void> {
    await this.context.close();
    rmSync(this.#profile, { recursive: true, force: true });
  }
}

/** Saves a full-page screenshot under docs/screenshots/NAME.png. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  mkdirSync(screenshotsDir, { recursive: true });
  const path = join(screenshotsDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

function spkiSha256(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}
