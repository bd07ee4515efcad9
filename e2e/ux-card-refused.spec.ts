/**
 * Issue 14 §3: a notice during lending (here: the VM refuses the card) does not push Stop out
 * of view, at either size; the page never says "on loan" while the VM has no card.
 */
import { expect, test } from './fixtures.ts';
import {
  expectNoSeriousA11yViolations,
  expectStopInViewport,
  FakeVm,
  shoot,
  VIEWPORTS,
} from './ux-helpers.ts';

for (const viewport of VIEWPORTS) {
  test(`a card the VM refuses: notice, Stop in view, not "on loan" (${viewport.name})`, async ({
    page,
    launchRelay,
  }, testInfo) => {
    const vm = await FakeVm.start({ isRefusingAtr: true });
    try {
      const relay = await launchRelay(vm.port);
      await page.setViewportSize(viewport);
      await page.goto(relay.url);
      await page.getByRole('button', { name: 'Try a virtual card' }).click();
      const bar = page.getByTestId('lending-bar');
      await expect(bar).toHaveAttribute('data-phase', 'card-refused', { timeout: 20_000 });
      await expect(page.getByRole('alert')).toBeVisible();
      await expect(page.getByTestId('lending-note')).not.toContainText('on loan');
      await expect(page).toHaveTitle('Card refused · cardlend');
      await expectStopInViewport(page);
      await shoot(page, testInfo, viewport, 'card-refused-while-lending');
      await expectNoSeriousA11yViolations(page, 'card refused while lending');
      await bar.getByRole('button', { name: 'Stop lending' }).click();
      await expect(bar).toHaveCount(0);
      await expect(page.getByRole('button', { name: 'Try a virtual card' })).toBeFocused();
    } finally {
      await vm.stop();
    }
  });
}
