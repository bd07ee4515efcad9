/**
 * Issue 14 §7: a page opened over plain http from a host name that is not this computer is not
 * a secure context, so Chrome hides WebUSB. The page says so on load — the real cause, not
 * "this browser cannot use USB readers".
 */
import { expect, test } from './fixtures.ts';
import { expectNoSeriousA11yViolations, shoot, VIEWPORTS } from './ux-helpers.ts';

test.use({
  launchOptions: {
    executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium',
    args: [
      ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
      '--disable-gpu',
      '--no-first-run',
      // cardlend.test resolves to the relay on loopback, but the origin is not loopback.
      '--host-resolver-rules=MAP cardlend.test 127.0.0.1',
    ],
  },
});

for (const viewport of VIEWPORTS) {
  test(`an http page is explained on load as not secure (${viewport.name})`, async ({
    page,
    relay,
  }, testInfo) => {
    await page.setViewportSize(viewport);
    await page.goto(`http://cardlend.test:${relay.port}/`);
    expect(await page.evaluate(() => window.isSecureContext)).toBe(false);
    const alert = page.getByRole('alert');
    await expect(alert).toContainText('This page must be opened over https');
    await expect(page.locator('#no-usb-hint')).toContainText('opened over plain http');
    await expect(page.getByText('This browser cannot use USB readers')).toHaveCount(0);
    await shoot(page, testInfo, viewport, 'insecure-origin-on-load');
    await expectNoSeriousA11yViolations(page, 'insecure origin');
  });
}
