/**
 * Issue 14 §3 and §4: in every lending state, at 1280×800 and 390×844, "Stop lending" is inside
 * the viewport (a sticky bar, also scrolled to the bottom) and the tab title names the state.
 * While the bridge retries by itself there is one amber "Connection lost, retrying (n of N)"
 * next to Stop — no red list of fixes, never "on loan" — and it goes away once lent again.
 */
import { expect, test } from './fixtures.ts';
import {
  expectNoSeriousA11yViolations,
  expectStopInViewport,
  FakeVm,
  RelayProcess,
  shoot,
  VIEWPORTS,
} from './ux-helpers.ts';

for (const viewport of VIEWPORTS) {
  test(`Stop stays in view and the notices follow the live state (${viewport.name})`, async ({
    page,
  }, testInfo) => {
    test.setTimeout(180_000);
    const vm = await FakeVm.start();
    const relay = await RelayProcess.start(vm.port);
    try {
      await page.setViewportSize(viewport);
      await page.goto(relay.url);
      await page.getByRole('button', { name: 'Try a virtual card' }).click();
      const bar = page.getByTestId('lending-bar');
      const stop = bar.getByRole('button', { name: 'Stop lending' });
      const note = page.getByTestId('lending-note');
      await expect(bar).toHaveAttribute('data-phase', 'lent', { timeout: 20_000 });
      await vm.waitForCard();
      // Focus goes to Stop when lending starts.
      await expect(stop).toBeFocused();
      await expect(page).toHaveTitle(/^Lent to VM · cardlend$/);
      await expect(note).toContainText('Your card is on loan');
      await expectStopInViewport(page);
      await shoot(page, testInfo, viewport, '1-lent');

      // The card pulled out: the VM has the reader only — not "on loan".
      await page.getByRole('button', { name: 'Pull the virtual card out' }).click();
      await expect(bar).toHaveAttribute('data-phase', 'lent-no-card');
      await expect(note).not.toContainText('on loan');
      await expect(page).toHaveTitle(/no card/);
      await expectStopInViewport(page);
      await shoot(page, testInfo, viewport, '2-card-pulled');
      await page.getByRole('button', { name: 'Insert the virtual card' }).click();
      await expect(bar).toHaveAttribute('data-phase', 'lent', { timeout: 10_000 });

      // The relay dies: the page retries by itself; one amber line beside Stop, no red fixes.
      await relay.kill();
      const retry = page.getByTestId('retry-notice');
      await expect(retry).toHaveText(/^Connection lost, retrying \(\d+ of 10\)$/, {
        timeout: 10_000,
      });
      await expect(bar).toHaveAttribute('data-phase', 'reconnecting');
      await expect(page.getByRole('alert')).toHaveCount(0);
      await expect(note).not.toContainText('on loan');
      await expect(page.getByTestId('status-link')).toContainText('trying again by itself');
      await expect(page).toHaveTitle('Reconnecting… · cardlend');
      await expect(page.getByTestId('live-status')).toHaveText(
        /^(Connection lost, retrying by itself|Reconnecting to the same session)\.$/,
      );
      await expectStopInViewport(page);
      await shoot(page, testInfo, viewport, '3-relay-gone-retrying');
      await expectNoSeriousA11yViolations(page, 'retrying');

      // The relay is back: lent again, the amber line is gone, no notice left behind.
      await relay.restart();
      await expect(bar).toHaveAttribute('data-phase', 'lent', { timeout: 30_000 });
      await expect(retry).toHaveCount(0);
      await expect(page.getByRole('alert')).toHaveCount(0);
      await expect(note).toContainText('Your card is on loan');
      await shoot(page, testInfo, viewport, '4-relay-back');

      // The VM goes away: retrying again, still no "on loan" and no red list.
      await vm.stop();
      await expect(bar).toHaveAttribute('data-phase', 'reconnecting', { timeout: 15_000 });
      await expect(retry).toBeVisible();
      await expect(page.getByRole('alert')).toHaveCount(0);
      await expect(note).not.toContainText('on loan');
      await expect(page.getByTestId('status-card')).not.toContainText('lent');
      await expectStopInViewport(page);
      await shoot(page, testInfo, viewport, '5-vm-gone-retrying');

      // Stop while retrying: the bar goes, focus returns to the start button.
      await stop.click();
      await expect(bar).toHaveCount(0, { timeout: 15_000 });
      await expect(page.getByRole('button', { name: 'Try a virtual card' })).toBeFocused();
      await expect(page).toHaveTitle(/^cardlend/);
      await shoot(page, testInfo, viewport, '6-stopped');
    } finally {
      await relay.kill();
      await vm.stop().catch(() => {});
    }
  });
}
