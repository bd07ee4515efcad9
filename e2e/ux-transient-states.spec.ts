/**
 * Issue 14 §3, the short-lived lending states: while connecting (a VM slow to answer) and while
 * stopping (a VM slow to acknowledge), Stop is in view at both sizes and the title says so.
 * Both last only until the bridge's own time limits (2 s for an answer, 3 s for a stop), so
 * each is checked at once, without scrolling (the bar is the same sticky bar as in
 * ux-lending-states.spec.ts, where scrolling is checked).
 */
import { expect, test } from './fixtures.ts';
import { FakeVm, shoot, VIEWPORTS } from './ux-helpers.ts';

for (const viewport of VIEWPORTS) {
  test(`connecting and stopping keep Stop in view (${viewport.name})`, async ({
    page,
    launchRelay,
  }, testInfo) => {
    const slow = await FakeVm.start({ isHolding: true });
    const vm = await FakeVm.start();
    try {
      await page.setViewportSize(viewport);
      const bar = page.getByTestId('lending-bar');
      const tryButton = page.getByRole('button', { name: 'Try a virtual card' });

      // Connecting: the VM has not answered yet.
      await page.goto((await launchRelay(slow.port)).url);
      await tryButton.click();
      await expect(bar).toHaveAttribute('data-phase', 'connecting', { timeout: 20_000 });
      await expect(bar.getByRole('button', { name: 'Stop lending' })).toBeInViewport({ ratio: 1 });
      await expect(page).toHaveTitle('Connecting… · cardlend');
      await shoot(page, testInfo, viewport, 'connecting');
      await bar.getByRole('button', { name: 'Stop lending' }).click();
      await expect(bar).toHaveCount(0, { timeout: 20_000 });
      await expect(tryButton).toBeFocused();

      // Stopping: the VM is slow to acknowledge the card's removal.
      await page.goto((await launchRelay(vm.port)).url);
      await tryButton.click();
      await expect(bar).toHaveAttribute('data-phase', 'lent', { timeout: 20_000 });
      vm.hold();
      await bar.getByRole('button', { name: 'Stop lending' }).click();
      await expect(bar).toHaveAttribute('data-phase', 'stopping');
      await expect(page).toHaveTitle('Stopping… · cardlend');
      await expect(bar.getByRole('button', { name: 'Stopping…' })).toBeInViewport({ ratio: 1 });
      await expect(bar.getByRole('button', { name: 'Stopping…' })).toBeDisabled();
      await shoot(page, testInfo, viewport, 'stopping');
      vm.release();
      await expect(bar).toHaveCount(0, { timeout: 20_000 });
      await expect(tryButton).toBeFocused();
    } finally {
      await slow.stop();
      await vm.stop();
    }
  });
}
