/**
 * The page tries the card again by itself when another program holds it (the bridge's
 * power-on retries, 3 after 0.5, 1 and 2 s), lent through the local helper against a real
 * pcscd + vpcd with the PIV demo card and real QEMU 7.2 (as helper-page.spec.ts). A second
 * PC/SC client of this process holds the card exclusively before the page lends the reader.
 *
 * - let go during the retries: the Card row said "Not ready yet; trying again (attempt 1 of
 *   3)…" and why in the catalog's words, with no problem banner; then QEMU gets the ATR, the
 *   Card row says Present and the retry status is gone; the tab title said "card not ready"
 *   meanwhile and "Lent to …" after;
 * - kept: attempts 1, 2 and 3 were shown in order with no banner, then the retry status is
 *   gone and the normal problem is shown, QEMU never got an ATR.
 *
 * The reason and the problem are the card's ("Another program is using the card", reference
 * SCARD_E_SHARING_VIOLATION), as `cardlend lend` says them: the helper passes the PC/SC code on.
 *
 * What the Card row showed is recorded in the page by a MutationObserver (init script), so a
 * state shown for only half a second is seen whatever the assertions' polling.
 */
import type { Browser, Page } from '@playwright/test';
import { openReader } from '@cardlend/pcsc';
import type { PcscReader } from '@cardlend/pcsc';
import { expect, test } from './fixtures.ts';
import { publicPage, setLoopbackPermission, useHelperRig } from './helper-e2e.ts';

const READER = 'Virtual PCD 00 00';
const rig = useHelperRig({ withPivCard: true });

/** What the page showed at one moment: the Card row's retry status and reason, a banner. */
interface Seen {
  retry: string | null;
  reason: string | null;
  hasNotice: boolean;
}

/** No WebUSB (the helper is the only route), and every change of what is `Seen` recorded. */
const INIT = `
delete Navigator.prototype.usb;
window.__seen = [];
new MutationObserver(() => {
  const el = document.querySelector('[data-testid="card-retry"]');
  const now = {
    retry: el ? el.textContent.trim() : null,
    reason: el && el.nextElementSibling ? el.nextElementSibling.textContent.trim() : null,
    hasNotice: document.querySelector('[data-testid="notice-area"]') !== null,
  };
  const last = window.__seen[window.__seen.length - 1];
  if (!last || JSON.stringify(last) !== JSON.stringify(now)) window.__seen.push(now);
}).observe(document, { subtree: true, childList: true, characterData: true });
`;

/**
 * The catalog's words for the failure while the other program holds the card. The helper
 * sends the PC/SC code below its reader code (`source` SCARD_E_SHARING_VIOLATION under
 * `CCID_DEVICE_BUSY`) and the page's helper reader keeps it as a PC/SC reader does, so the
 * words and the reference are those `cardlend lend` shows on this computer (`reader-in-use`).
 */
const BUSY_REASON = 'Last try: Another program is using the card (SCARD_E_SHARING_VIOLATION).';
const BUSY_TITLE = 'Another program is using the card';
const BUSY_PROBLEM = 'reader-in-use';

/** The tab's title while the card is retried (the VM's name, or "VM" without one). */
const RETRY_TITLE = /^Lent to .+, card not ready · cardlend$/;

const retryText = (attempt: number): string =>
  `Not ready yet; trying again (attempt ${attempt} of 3)…`;

async function seen(page: Page): Promise<Seen[]> {
  return page.evaluate(() => (window as unknown as { __seen: Seen[] }).__seen);
}

/** The states while retrying: the retry statuses in order, each with the reason, no banner. */
async function retryStates(page: Page): Promise<Seen[]> {
  const during = (await seen(page)).filter((s) => s.retry !== null);
  for (const s of during) {
    expect(s.reason).toBe(BUSY_REASON);
    expect(s.hasNotice, `a banner with "${s.retry}"`).toBe(false);
  }
  return during;
}

/** The page approved by the helper (the person answers y) and the helper's reader lent. */
async function lendThroughHelper(page: Page, browser: Browser, relayUrl: string, port: number) {
  await page.goto(relayUrl);
  await setLoopbackPermission(browser, `http://127.0.0.1:${port}`, 'granted');
  await page.goto(`${relayUrl}?helper=${encodeURIComponent(rig.helper.url)}`);
  const panel = page.getByTestId('helper-panel');
  rig.terminal.answer = 'y';
  await panel.getByTestId('helper-pair').click({ timeout: 15_000 });
  await expect(panel.getByTestId('helper-readers')).toContainText(READER, { timeout: 15_000 });
  await panel.getByRole('button', { name: `Lend the card in ${READER}` }).click();
}

/**
 * A second PC/SC client holds the card exclusively (like a lent card) while the page lends the
 * reader through the helper; `body` runs once the Card row shows the first retry, with `letGo`
 * closing that client. The browser and the client are closed after it.
 */
async function withCardHeldWhileLending(
  relay: { url: string; port: number },
  body: (page: Page, letGo: () => Promise<void>) => Promise<void>,
): Promise<void> {
  const holder: PcscReader = await openReader(rig.pcscd.readers[0]);
  let isHeld = true;
  const letGo = async (): Promise<void> => {
    isHeld = false;
    await holder.close();
  };
  try {
    await holder.powerOn();
    const { browser, page } = await publicPage(relay.port, 'about:blank', INIT);
    try {
      await lendThroughHelper(page, browser, relay.url, relay.port);
      await expect(page.getByTestId('card-retry')).toHaveText(retryText(1), { timeout: 20_000 });
      // The tab title says so too (not "no card": the card is in the reader).
      await expect(page).toHaveTitle(RETRY_TITLE);
      await expect(page.getByTestId('status-link')).toContainText('the card is not ready yet');
      await body(page, letGo);
    } finally {
      await browser.close();
    }
  } finally {
    if (isHeld) await holder.close();
  }
}

test('the other program lets go during the retries: the card is lent, the status gone', async ({
  qemu,
  launchRelay,
}) => {
  const relay = await launchRelay(qemu.port);
  await withCardHeldWhileLending(relay, async (page, letGo) => {
    await letGo();
    await qemu.waitForLog(/VSC_ATR \d+/, 20_000);
    await expect(page.getByTestId('status-card')).toContainText('Present', { timeout: 10_000 });
    await expect(page.getByTestId('card-retry')).toHaveCount(0);
    await expect(page.getByTestId('notice-area')).toHaveCount(0);
    await expect(page).toHaveTitle(/^Lent to .+ · cardlend$/);
    await expect(page).not.toHaveTitle(/card not ready|no card/);
    const during = await retryStates(page);
    expect(during[0]?.retry).toBe(retryText(1));
  });
});

test('the other program keeps the card: attempts 1-3 shown, then the problem', async ({
  qemu,
  launchRelay,
}) => {
  const relay = await launchRelay(qemu.port);
  await withCardHeldWhileLending(relay, async (page) => {
    const notice = page.getByTestId('notice-area');
    await expect(notice.getByRole('alert')).toBeVisible({ timeout: 15_000 });
    await expect(notice.locator('[data-problem]')).toHaveAttribute('data-problem', BUSY_PROBLEM);
    await expect(notice).toContainText(BUSY_TITLE);
    await expect(notice).toContainText('Reference for your helpdesk: SCARD_E_SHARING_VIOLATION');
    await expect(page.getByTestId('card-retry')).toHaveCount(0);
    await expect(page.getByTestId('status-card')).toContainText('No card in the reader');
    await expect(page).toHaveTitle(/^Lent to .+, no card · cardlend$/);
    const during = await retryStates(page);
    expect([...new Set(during.map((s) => s.retry))]).toEqual([1, 2, 3].map(retryText));
    expect(qemu.output.join('\n')).not.toMatch(/VSC_ATR \d+/);
  });
});
