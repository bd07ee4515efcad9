/**
 * Shared by the helper e2e specs: Chromium with a page counted as public
 * (`--ip-address-space-overrides`), the Local Network Access permission set over DevTools,
 * and a test terminal for the helper's pairing question.
 */
import { chromium, type Browser, type Page } from '@playwright/test';
import type { Prompter } from '../apps/cli/src/ports.ts';

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
