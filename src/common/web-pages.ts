// Serves the built web pages (dist/web, made by `npm run build`) under /ui/ on a Fastify server.
// The files are read once at start; nothing else on disk can be reached through these routes. The
// pages hold no secrets: they ask for the credential and send it with each API request, so serving
// them needs no authentication. A strict Content-Security-Policy keeps them to their own origin.

import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, RawServerBase } from 'fastify';

/** Where `npm run build` puts the pages: dist/web next to dist/common. */
export const webPagesDir = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'dist', 'web');

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
};

export const pageSecurityHeaders: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

interface PageFile {
  body: Buffer;
  type: string;
  /** Hashed asset names never change content: they may be cached for good. */
  immutable: boolean;
}

function collect(dir: string, root: string, out: Map<string, PageFile>): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      collect(path, root, out);
      continue;
    }
    const type = contentTypes[extname(name)];
    if (!type) continue;
    const url = relative(root, path).split(sep).join('/');
    out.set(url, { body: readFileSync(path), type, immutable: url.startsWith('assets/') });
  }
}

/**
 * Registers GET /ui/<page>/ (and the shared assets) for the named pages. When the pages were not
 * built, /ui/<page>/ answers 503 saying how to build them rather than failing the server.
 */
export function registerWebPages<S extends RawServerBase>(
  app: FastifyInstance<S>,
  pages: readonly string[],
  dir: string = webPagesDir,
): void {
  const files = new Map<string, PageFile>();
  if (existsSync(dir)) collect(dir, dir, files);
  const allowed = (url: string) =>
    url.startsWith('assets/') || pages.some((page) => url === `${page}/index.html`);

  for (const page of pages) {
    app.get(`/ui/${page}`, { schema: { hide: true } }, async (_request, reply) =>
      reply.redirect(`/ui/${page}/`, 301),
    );
  }
  app.get('/ui/*', { schema: { hide: true } }, async (request, reply) => {
    const wildcard = (request.params as { '*': string })['*'];
    const url = wildcard.endsWith('/') || wildcard === '' ? `${wildcard}index.html` : wildcard;
    const file = allowed(url) ? files.get(url) : undefined;
    void reply.headers(pageSecurityHeaders);
    if (!file) {
      if (url.endsWith('index.html') && files.size === 0) {
        return reply
          .code(503)
          .type('text/plain; charset=utf-8')
          .send('The web pages are not built: run `npm run build` in the Lifeline checkout.\n');
      }
      return reply.code(404).type('text/plain; charset=utf-8').send('Not found\n');
    }
    return reply
      .type(file.type)
      .header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      .send(file.body);
  });
}
