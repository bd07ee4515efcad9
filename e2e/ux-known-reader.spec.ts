/**
 * Issue 14 §10: a returning person gets "Use <reader> again" for a reader this page was
 * allowed before (navigator.usb.getDevices()), which opens it without the chooser. A test
 * cannot plug in a real reader, so the browser's USB answers are replaced: getDevices()
 * returns a reader the page was allowed, whose open() fails as a reader held elsewhere would.
 */
import { expect, test } from './fixtures.ts';
import { expectNoSeriousA11yViolations, shoot, VIEWPORTS } from './ux-helpers.ts';

for (const viewport of VIEWPORTS) {
  test(`"Use <reader> again" opens the reader allowed before, without the chooser (${viewport.name})`, async ({
    page,
    openApp,
  }, testInfo) => {
    await page.setViewportSize(viewport);
    await page.addInitScript(() => {
      const w = window as unknown as { chooserCalls: number; openCalls: number };
      w.chooserCalls = 0;
      w.openCalls = 0;
      const reader = {
        productName: 'Test Token',
        vendorId: 0x1050,
        productId: 0x0407,
        opened: false,
        configuration: null,
        configurations: [{ interfaces: [{ alternates: [{ interfaceClass: 0xff }] }] }],
        open: () => {
          w.openCalls++;
          return Promise.reject(new DOMException('Access denied.', 'SecurityError'));
        },
      };
      const usb = (navigator as { usb?: object }).usb;
      const proto = Object.getPrototypeOf(usb) as {
        getDevices: () => Promise<unknown[]>;
        requestDevice: () => Promise<unknown>;
      };
      proto.getDevices = () => Promise.resolve([reader]);
      proto.requestDevice = () => {
        w.chooserCalls++;
        return Promise.reject(new DOMException('No device selected.', 'NotFoundError'));
      };
    });
    await openApp(page);
    const again = page.getByRole('button', { name: 'Use Test Token again' });
    await expect(again).toBeVisible();
    await expect(page.getByRole('button', { name: 'Choose another reader' })).toBeVisible();
    await shoot(page, testInfo, viewport, 'use-reader-again');
    await expectNoSeriousA11yViolations(page, 'use reader again');
    await again.click();
    await expect(page.locator('[data-problem]')).toBeVisible({ timeout: 15_000 });
    const calls = await page.evaluate(() => {
      const w = window as unknown as { chooserCalls: number; openCalls: number };
      return { chooser: w.chooserCalls, open: w.openCalls };
    });
    expect(calls.chooser).toBe(0);
    expect(calls.open).toBeGreaterThan(0);
    // The chooser is still there for another reader.
    await page.getByRole('button', { name: 'Choose another reader' }).click();
    await expect
      .poll(() => page.evaluate(() => (window as unknown as { chooserCalls: number }).chooserCalls))
      .toBe(1);
  });
}
