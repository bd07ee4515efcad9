/**
 * Issue 14 §3, the short-lived lending states: while connecting (a VM slow to answer) and while
 * stopping (a VM slow to acknowledge), Stop is in view at both sizes and the title says so.
 */
import { expect, test } from './fixtures.ts';
import { expectStopInViewport, FakeVm, shoot, VIEWPORTS } from './ux-helpers.ts';

for (const viewport of VIEWPORTS) {
  test(`connecting and stopping keep Stop in view (${viewport.name})`, async ({
    page,
    launchRelay,
  }, testInfo) => {
    const vm = await FakeVm.start({ isHolding: true });
    try {
      const relay = await launchRelay(vm.port);
      await page.setViewportSize(viewport);
      await page.goto(relay.url);
      await page.getByRole('button', { name: 'Try a virtual card' }).click();
      const bar = page.getByTestId('lending-bar');
      await expect(bar).toHaveAttribute('data-phase', 'connecting', { timeout: 20_000 });
      await expect(page).toHaveTitle('Connecting… · cardlend');
      await expect(page.getByTestId('lending-note')).not.toContainText('on loan');
      await expectStopInViewport(page);
      await shoot(page, testInfo, viewport, 'connecting');

      vm.release();
      await expect(bar).toHaveAttribute('data-phase', 'lent', { timeout: 20_000 });

      // A VM slow to acknowledge the card's removal: "Stopping…" stays a moment.
      vm.hold();
      await bar.getByRole('button', { name: 'Stop lending' }).click();
      await expect(bar).toHaveAttribute('data-phase', 'stopping');
      await expect(bar.getByRole('button', { name: 'Stopping…' })).toBeDisabled();
      await expect(page).toHaveTitle('Stopping… · cardlend');
      await expectStopInViewport(page);
      await shoot(page, testInfo, viewport, 'stopping');
      vm.release();
      await expect(bar).toHaveCount(0, { timeout: 20_000 });
      await expect(page.getByRole('button', { name: 'Try a virtual card' })).toBeFocused();
    } finally {
      await vm.stop();
    }
  });
}
