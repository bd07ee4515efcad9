/** The page reads well on a laptop and a phone, and works with the keyboard alone. */
import { expect, test } from './fixtures.ts';
import { expectNoSeriousA11yViolations, expectStopInViewport } from './ux-helpers.ts';

for (const viewport of [
  { name: 'laptop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 },
]) {
  test(`layout at ${viewport.width}×${viewport.height} (${viewport.name})`, async ({
    page,
    openApp,
    snap,
  }) => {
    await page.setViewportSize({ width: viewport.width, height: viewport.height });
    await openApp(page);
    // No horizontal scrolling of the page itself.
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - window.innerWidth,
    );
    expect(overflow).toBeLessThanOrEqual(0);
    await snap(page, `${viewport.name}-start`);
    await expectNoSeriousA11yViolations(page, `${viewport.name} start`);

    await page.getByRole('button', { name: 'Try a virtual card' }).click();
    await expect(page.getByTestId('status-link')).toHaveAttribute('data-link', 'lent', {
      timeout: 20_000,
    });
    await snap(page, `${viewport.name}-lent`);
    // The sticky bar keeps Stop in view, also scrolled to the activity log.
    await expectStopInViewport(page);
    const overflowLent = await page.evaluate(
      () => document.documentElement.scrollWidth - window.innerWidth,
    );
    expect(overflowLent).toBeLessThanOrEqual(0);
    await page.getByRole('button', { name: 'Stop lending' }).click();
    await expect(page.getByTestId('status-link')).toHaveAttribute('data-link', 'stopped');
  });
}

test('keyboard only: tab to "Try a virtual card", lend, tab to "Stop lending"', async ({
  page,
  openApp,
}) => {
  await openApp(page);
  const tryButton = page.getByRole('button', { name: 'Try a virtual card' });
  for (
    let i = 0;
    i < 10 && !(await tryButton.evaluate((el) => el === document.activeElement));
    i++
  ) {
    await page.keyboard.press('Tab');
  }
  await expect(tryButton).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('status-link')).toHaveAttribute('data-link', 'lent', {
    timeout: 20_000,
  });
  const stop = page.getByRole('button', { name: 'Stop lending' });
  for (let i = 0; i < 15 && !(await stop.evaluate((el) => el === document.activeElement)); i++) {
    await page.keyboard.press('Tab');
  }
  await expect(stop).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('status-link')).toHaveAttribute('data-link', 'stopped');
  // Every form field has a label.
  await expect(page.getByLabel('Relay address')).toHaveCount(1);
  await expect(page.getByLabel('Session token')).toHaveCount(1);
});
