/**
 * Failures the person can run into are explained in plain words, never as a raw exception.
 * `?demo=` selects a simulated reader profile (documented in apps/web/README.md).
 */
import { expect, test } from './fixtures.ts';

test.describe('explanations instead of exceptions', () => {
  test('a class-0x0B reader blocked like Chrome blocks it shows what it means and the options', async ({
    page,
    qemu,
    openApp,
    snap,
  }) => {
    const pageErrors: Error[] = [];
    page.on('pageerror', (e) => pageErrors.push(e));
    await openApp(page, { demo: 'protectedClass' });
    await page.getByRole('button', { name: 'Try a virtual card' }).click();

    const alert = page.getByRole('alert');
    await expect(alert).toContainText('The browser does not let web pages use this reader');
    await expect(alert).toContainText('0x0B');
    await expect(alert).toContainText('vendor-specific');
    await expect(alert).toContainText('Isolated Web App');
    await expect(alert).toContainText('CCID_PROTECTED_CLASS');
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
    await openApp(page, { demo: 'heldByOtherProgram' });
    await page.getByRole('button', { name: 'Try a virtual card' }).click();
    const alert = page.getByRole('alert');
    await expect(alert).toContainText('Another program is using the reader');
    await expect(alert).toContainText('sudo systemctl stop pcscd.socket pcscd.service');
    await expect(alert).toContainText('Zadig');
    await expect(alert).toContainText('com.apple.ifdreader');
    await snap(page, 'held-by-other-program');
  });

  test('an unreachable relay is explained', async ({ page, openApp, snap }) => {
    await openApp(page, { relay: 'ws://127.0.0.1:9/vscard' });
    await page.getByRole('button', { name: 'Try a virtual card' }).click();
    await expect(page.getByRole('alert')).toContainText('The relay cannot be reached', {
      timeout: 30_000,
    });
    await snap(page, 'relay-unreachable');
  });
});
