/**
 * Failures the person can run into are explained in plain words, never as a raw exception.
 * `?demo=` selects a simulated reader profile (documented in apps/web/README.md).
 */
import type { Locator, Page } from '@playwright/test';
import { expect, test } from './fixtures.ts';

/**
 * Opens the page with `query`, clicks "Try a virtual card" and expects the alert it shows to
 * say each of `says` (within `timeout` ms, else Playwright's default); returns the alert.
 */
async function explainedOnTry(
  page: Page,
  openApp: (page: Page, query: Record<string, string>) => Promise<void>,
  query: Record<string, string>,
  says: readonly string[],
  timeout?: number,
): Promise<Locator> {
  await openApp(page, query);
  await page.getByRole('button', { name: 'Try a virtual card' }).click();
  const alert = page.getByRole('alert');
  const options = timeout === undefined ? {} : { timeout };
  for (const text of says) await expect(alert).toContainText(text, options);
  return alert;
}

test.describe('explanations instead of exceptions', () => {
  test('a class-0x0B reader blocked like Chrome blocks it shows what it means and the options', async ({
    page,
    qemu,
    openApp,
    snap,
  }) => {
    const pageErrors: Error[] = [];
    page.on('pageerror', (e) => pageErrors.push(e));
    const alert = await explainedOnTry(page, openApp, { demo: 'protectedClass' }, [
      'The browser does not let web pages use this reader',
      '0x0B',
      'vendor-specific',
      'Isolated Web App',
      'CCID_PROTECTED_CLASS',
    ]);
    await expect(alert).not.toContainText(/SecurityError|Error:|undefined|\bat\s+\S+\.ts/);
    await expect(page.getByTestId('status-link')).toHaveAttribute('data-link', 'idle');
    // Nothing reached the VM: the block is detected before claiming, before any connection.
    expect(qemu.output.some((l) => /CCID Attach|VSC_ATR/.test(l))).toBe(false);
    expect(pageErrors).toEqual([]);
    await snap(page, 'protected-class');

    await alert.getByRole('button', { name: 'Dismiss' }).click();
    await expect(page.getByRole('alert')).toHaveCount(0);
  });

  test('a reader held by another program explains how to free it on each system', async ({
    page,
    openApp,
    snap,
  }) => {
    await explainedOnTry(page, openApp, { demo: 'heldByOtherProgram' }, [
      'Another program is using the reader',
      'sudo systemctl stop pcscd.socket pcscd.service',
      'Zadig',
      'com.apple.ifdreader',
    ]);
    await snap(page, 'held-by-other-program');
  });

  test('an unreachable relay is explained', async ({ page, openApp, snap }) => {
    const unreachable = { relay: 'ws://127.0.0.1:9/vscard' };
    await explainedOnTry(page, openApp, unreachable, ['The relay cannot be reached'], 30_000);
    await snap(page, 'relay-unreachable');
  });
});
