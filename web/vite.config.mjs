// The web pages: the agent's Diagnostics page and the hub console, built into dist/web and served
// as static files by the agent's admin API (/ui/diagnostics/) and the hub's technician API
// (/ui/console/). Nothing is fetched from anywhere else at run time.

import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('.'),
  // Relative asset URLs: the same build is served under /ui/ by two different servers.
  base: './',
  plugins: [preact()],
  logLevel: 'warn',
  build: {
    outDir: here('../dist/web'),
    emptyOutDir: true,
    sourcemap: true,
    // No inline scripts or data: URLs, so the pages run under a strict Content-Security-Policy.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    rollupOptions: {
      input: {
        diagnostics: here('diagnostics/index.html'),
        console: here('console/index.html'),
      },
    },
  },
});
