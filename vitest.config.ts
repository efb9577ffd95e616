import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
// @ts-expect-error: a plain .mjs script without types
import { findChromium } from './scripts/ensure-chromium.mjs';

// Two projects: Node (unit, property, golden, CLI) and headless Chromium (the
// same kernel and trace code through the browser entry: fetch + the same .wasm).
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two test files at a time even on 2 cores (vitest's default is cores − 1 = 1): most CLI
    // tests wait on child processes, Chromium or the disk part of the time.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { name: 'node', environment: 'node', include: ['test/**/*.test.ts'], exclude: ['test/**/*.browser.test.ts'] },
      },
      {
        extends: true,
        // comlink (and its node adapter, imported only on Node's path) bundled up front: found
        // mid-run, Vite re-optimizes and reloads the page under the test.
        optimizeDeps: { include: ['comlink', 'comlink/dist/esm/node-adapter.mjs'] },
        test: {
          name: 'browser',
          include: ['test/**/*.browser.test.ts'],
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            instances: [{ browser: 'chromium' }],
            provider: playwright({
              launchOptions: {
                executablePath: (findChromium() as string | null) ?? '/usr/bin/chromium',
                args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
              },
            }),
          },
        },
      },
    ],
  },
});
