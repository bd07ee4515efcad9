/**
 * Shared by the helper e2e specs: Chromium with a page counted as public
 * (`--ip-address-space-overrides`), the Local Network Access permission set over DevTools,
 * and a test terminal for the helper's pairing question.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from '@playwright/test';
import { createPivDemoCard } from '@cardlend/card-sim';
import { startPcscd, waitForCard, type Pcscd } from '@cardlend/pcsc/testing';
import { startPcscHelper } from '@cardlend/cli/testing';
import type { HelperServer, PcscHelper, Prompter } from '@cardlend/cli/testing';
import { test } from './fixtures.ts';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** A terminal that answers what the test says; `hold()` keeps the next answer until `release`. */
export class TestTerminal implements Prompter {
  readonly questions: string[] = [];
  answer = 'n';
  #held: { until: Promise<void> } | null = null;
  hold(): () => void {
    let release!: () => void;
    this.#held = { until: new Promise<void>((r) => (release = r)) };
    return release;
  }
  async ask(text: string): Promise<string | null> {
    this.questions.push(text);
    const held = this.#held;
    this.#held = null;
    if (held !== null) await held.until;
    return this.answer;
  }
}

/** Chromium that counts pages of `pagePort` as public, and a page on the relay. */
export async function publicPage(
  pagePort: number,
  url: string,
  init?: string,
): Promise<{ browser: Browser; page: Page }> {
  const browser = await chromium.launch({
    executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium',
    args: [
      ...(isRoot ? ['--no-sandbox'] : []),
      '--disable-gpu',
      '--no-first-run',
      `--ip-address-space-overrides=127.0.0.1:${pagePort}=public`,
    ],
  });
  const context = await browser.newContext();
  if (init !== undefined) await context.addInitScript(init);
  const page = await context.newPage();
  await page.goto(url);
  return { browser, page };
}

/** Grants or denies `loopback-network` to `origin` in the page's browser context (DevTools). */
export async function setLoopbackPermission(
  browser: Browser,
  origin: string,
  setting: 'granted' | 'denied',
): Promise<void> {
  const cdp = await browser.newBrowserCDPSession();
  const { targetInfos } = (await cdp.send('Target.getTargets')) as {
    targetInfos: { type: string; url: string; browserContextId?: string }[];
  };
  const target = targetInfos.find((t) => t.type === 'page' && t.url.startsWith(origin));
  await cdp.send('Browser.setPermission', {
    permission: { name: 'loopback-network' },
    setting,
    origin,
    ...(target?.browserContextId === undefined
      ? {}
      : { browserContextId: target.browserContextId }),
  });
}

/** What a helper spec works with; filled in by the hooks `useHelperRig` registers. */
export interface HelperRig {
  readonly pcscd: Pcscd;
  readonly helper: HelperServer;
  readonly terminal: TestTerminal;
}

/**
 * Registers the hooks of a helper spec: a real pcscd + vpcd for the file (with the PIV demo
 * card in its first reader if `withPivCard`), and per test a fresh helper server over it with
 * no page approved, a test terminal for pairing and its own config folder.
 */
export function useHelperRig(opts: { withPivCard: boolean }): HelperRig {
  const rig = {} as { pcscd: Pcscd; helper: HelperServer; terminal: TestTerminal };
  let running: PcscHelper | undefined;
  let configDir = '';
  test.beforeAll(async () => {
    rig.pcscd = await startPcscd();
    if (opts.withPivCard) {
      await rig.pcscd.insertCard(await createPivDemoCard());
      await waitForCard(rig.pcscd.readers[0], 'present');
    }
  });
  test.afterAll(async () => {
    await rig.pcscd?.stop();
  });
  test.beforeEach(async () => {
    configDir = mkdtempSync(join(tmpdir(), 'cardlend-helper-e2e-'));
    rig.terminal = new TestTerminal();
    running = await startPcscHelper({
      configDir,
      prompter: rig.terminal,
      helperName: 'cardlend e2e',
    });
    rig.helper = running.server;
  });
  test.afterEach(async () => {
    await running?.stop();
    rmSync(configDir, { recursive: true, force: true });
  });
  return rig;
}
