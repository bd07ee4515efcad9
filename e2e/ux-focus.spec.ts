/**
 * Issue 14 §8: focus is never lost. Stop gets it when lending starts (and is the first Tab
 * stop while lent); afterwards the start button gets it back, or the notice when something
 * went wrong; a closed chooser returns it to "Choose reader".
 */
import { expect, test } from './fixtures.ts';
import { shoot, VIEWPORTS } from './ux-helpers.ts';

test('focus follows lending: Stop when it starts, the start button after Stop', async ({
  page,
  openApp,
}, testInfo) => {
  await openApp(page);
  const tryButton = page.getByRole('button', { name: 'Try a virtual card' });
  await tryButton.focus();
  await page.keyboard.press('Enter');
  const stop = page.getByTestId('lending-bar').getByRole('button', { name: 'Stop lending' });
  await expect(page.getByTestId('lending-bar')).toHaveAttribute('data-phase', 'lent', {
    timeout: 20_000,
  });
  await expect(stop).toBeFocused();
  await shoot(page, testInfo, VIEWPORTS[0], 'focus-on-stop');
  // While lent, Stop is the first Tab stop of the page (not three Tabs away).
  const firstTabStop = await page.evaluate(() => {
    const all = document.querySelectorAll<HTMLElement>(
      'button, a[href], input, select, textarea, summary, [tabindex]',
    );
    const first = Array.from(all).find(
      (el) => el.tabIndex >= 0 && !el.hasAttribute('disabled') && el.offsetParent !== null,
    );
    return first?.textContent?.trim() ?? null;
  });
  expect(firstTabStop).toBe('Stop lending');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lending-bar')).toHaveCount(0);
  await expect(tryButton).toBeFocused();
});

test('a closed reader chooser gives focus back to "Choose reader"', async ({
  page,
  openApp,
}, testInfo) => {
  // Closing Chrome's reader chooser rejects requestDevice() with this NotFoundError; a test
  // cannot click the browser's own dialog, so the page gets exactly that answer.
  await page.addInitScript(() => {
    const usb = (navigator as { usb?: { requestDevice: () => Promise<unknown> } }).usb;
    if (usb === undefined) return;
    usb.requestDevice = () =>
      Promise.reject(new DOMException('No device selected.', 'NotFoundError'));
  });
  await openApp(page);
  const choose = page.getByRole('button', { name: 'Choose reader' });
  await choose.focus();
  await page.keyboard.press('Enter');
  await expect(page.locator('[data-problem]')).toBeVisible({ timeout: 15_000 });
  await expect(choose).toBeFocused();
  await shoot(page, testInfo, VIEWPORTS[0], 'chooser-closed');
});

test('a failed start moves focus to the notice', async ({ page, openApp }, testInfo) => {
  await openApp(page, { demo: 'protectedClass' });
  await page.getByRole('button', { name: 'Try a virtual card' }).click();
  await expect(page.getByRole('alert')).toContainText('does not let web pages use this reader');
  await expect(page.getByTestId('notice-area')).toBeFocused();
  await shoot(page, testInfo, VIEWPORTS[0], 'focus-on-notice');
  // Dismissing it puts focus back on the start button.
  await page
    .getByRole('alert')
    .getByRole('button', { name: /Dismiss/ })
    .click();
  await expect(page.getByRole('button', { name: 'Try a virtual card' })).toBeFocused();
});
