import { defineConfig } from '@playwright/test';

const isCi = Boolean(process.env['CI']);
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * End-to-end tests in Debian's Chromium (Playwright's own browser download cannot work here).
 * Each spec starts its own relay and QEMU through fixtures in e2e/fixtures.ts.
 */
export default defineConfig({
  testDir: 'e2e',
  forbidOnly: isCi,
  retries: isCi ? 1 : 0,
  workers: 1,
  timeout: 120_000,
  // The whole run takes about 5 minutes: a run still going after 20 has a stuck worker, and
  // ends with the tests it interrupted named instead of waiting for CI's limit.
  globalTimeout: 20 * 60_000,
  outputDir: 'test-results',
  reporter: isCi ? [['list']] : [['list']],
  use: {
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium',
      args: [
        ...(isRoot ? ['--no-sandbox'] : []),
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-gpu',
        '--no-first-run',
      ],
    },
  },
});
