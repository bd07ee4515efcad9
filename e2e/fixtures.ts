/**
 * Playwright fixtures: a real QEMU 7.2 (usb-ccid + ccid-card-passthru, debug logging on), the
 * cardlend relay in front of it serving the built page (apps/web/dist), and helpers to open
 * the page and keep screenshots of each state as test artifacts (test-results/, not in git).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test as base, expect, type Page, type TestInfo } from '@playwright/test';
import { findFreePort, startQemu, type QemuHandle } from '@cardlend/qemu-testbed';
import { relayReady } from './relay-ready.ts';
import { writeSecret } from './ux-helpers.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tsxBin = path.join(repoRoot, 'apps/relay/node_modules/.bin/tsx');

export interface RelayHandle {
  /** http://127.0.0.1:<port>/ — the page, served by the relay. */
  url: string;
  port: number;
  /** Everything the relay printed (stdout + stderr). */
  output: string[];
}

async function startRelay(
  targetPort: number,
  extraArgs: readonly string[] = [],
): Promise<{ handle: RelayHandle; child: ChildProcessWithoutNullStreams }> {
  for (let attempt = 0; ; attempt++) {
    const port = await findFreePort();
    const child = spawn(
      tsxBin,
      [
        'apps/relay/src/main.ts',
        '--listen',
        `127.0.0.1:${port}`,
        '--target',
        `127.0.0.1:${targetPort}`,
        ...extraArgs,
      ],
      { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const output: string[] = [];
    const ready = relayReady(child, output, 30_000);
    if (await ready) return { handle: { url: `http://127.0.0.1:${port}/`, port, output }, child };
    child.kill('SIGKILL');
    if (attempt >= 2) throw new Error(`relay did not start:\n${output.join('\n')}`);
  }
}

async function stopChild(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts a relay in front of `qemu` that requires signed session tokens (a fresh secret file
 * per call, `--token-secret-file`), with `extraArgs` after; returns it and the secret file to
 * mint with.
 */
export type LaunchTokenRelay = (
  extraArgs?: readonly string[],
) => Promise<{ relay: RelayHandle; secretFile: string }>;

interface Fixtures {
  /** Starts a relay in front of any VSCard port (stopped after the test). */
  launchRelay: (targetPort: number, extraArgs?: readonly string[]) => Promise<RelayHandle>;
  /** QEMU 7.2 with usb-ccid/ccid-card-passthru at debug level 4 (logs VSC_ATR, CardRemove, Detach). */
  qemu: QemuHandle;
  relay: RelayHandle;
  launchTokenRelay: LaunchTokenRelay;
  /** Opens the page with the given query (e.g. `{ demo: 'protectedClass' }`). */
  openApp: (page: Page, query?: Record<string, string>) => Promise<void>;
  /** Saves a full-page screenshot as test-results/<test>/<n>-<name>.png (kept on success too). */
  snap: (page: Page, name: string) => Promise<void>;
}

export const test = base.extend<Fixtures>({
  // Playwright requires an object pattern as the first argument, even when empty.
  // eslint-disable-next-line no-empty-pattern
  qemu: async ({}, use) => {
    const qemu = await startQemu({ version: '7.2', debug: 4 });
    try {
      await use(qemu);
    } finally {
      await qemu.stop();
    }
  },

  // eslint-disable-next-line no-empty-pattern
  launchRelay: async ({}, use, testInfo) => {
    const started: { handle: RelayHandle; child: ChildProcessWithoutNullStreams }[] = [];
    try {
      await use(async (targetPort, extraArgs) => {
        const relay = await startRelay(targetPort, extraArgs);
        started.push(relay);
        return relay.handle;
      });
    } finally {
      for (const { handle, child } of started) {
        await stopChild(child);
        await testInfo.attach('relay.log', {
          body: handle.output.join('\n'),
          contentType: 'text/plain',
        });
      }
    }
  },

  relay: async ({ qemu, launchRelay }, use, testInfo) => {
    try {
      await use(await launchRelay(qemu.port));
    } finally {
      await testInfo.attach('qemu.log', {
        body: qemu.output.join('\n'),
        contentType: 'text/plain',
      });
    }
  },

  launchTokenRelay: async ({ qemu, launchRelay }, use, testInfo) => {
    await use(async (extraArgs = []) => {
      const { file: secretFile } = await writeSecret(testInfo);
      const relay = await launchRelay(qemu.port, ['--token-secret-file', secretFile, ...extraArgs]);
      return { relay, secretFile };
    });
  },

  openApp: async ({ relay }, use) => {
    await use(async (page, query = {}) => {
      const url = new URL(relay.url);
      for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
      await page.goto(url.toString());
      await expect(page.getByRole('heading', { name: 'cardlend' })).toBeVisible();
    });
  },

  // eslint-disable-next-line no-empty-pattern
  snap: async ({}, use, testInfo: TestInfo) => {
    let n = 0;
    await use(async (page, name) => {
      n += 1;
      const file = testInfo.outputPath(`${String(n).padStart(2, '0')}-${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
    });
  },
});

/** Runs the relay's mint-token CLI; returns the token and the link a helpdesk would send. */
export async function mintToken(opts: {
  secretFile: string;
  baseUrl: string;
  target?: string;
}): Promise<{ token: string; link: string }> {
  const child = spawn(
    tsxBin,
    [
      'apps/relay/src/cli/mint-token.ts',
      '--secret-file',
      opts.secretFile,
      '--target',
      opts.target ?? 'default',
      '--base-url',
      opts.baseUrl,
    ],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const [token, link] = out.trim().split(/\r?\n/);
  if (code !== 0 || token === undefined || link === undefined)
    throw new Error(`mint-token failed (${code}): ${err}`);
  return { token: token.trim(), link: link.trim() };
}

export { expect };
