/**
 * Issue 14 §9 and §10: one short sentence in the live region (no jargon there), the technical
 * details under "Details for your helpdesk", a favicon, and colours that meet WCAG AA (axe
 * for text, and the 3:1 of control borders, which axe does not check).
 */
import { expect, test } from './fixtures.ts';
import { expectNoSeriousA11yViolations, shoot, VIEWPORTS } from './ux-helpers.ts';

test('one short live sentence; jargon only under "Details for your helpdesk"', async ({
  page,
  openApp,
}, testInfo) => {
  await openApp(page);
  await page.getByRole('button', { name: 'Try a virtual card' }).click();
  await expect(page.getByTestId('lending-bar')).toHaveAttribute('data-phase', 'lent', {
    timeout: 20_000,
  });
  // Exactly one polite live region outside notices, holding one sentence.
  const live = page
    .locator('[aria-live], [role="status"]')
    .filter({ hasNot: page.locator('[data-problem]') });
  await expect(live).toHaveCount(1);
  const sentence = (await page.getByTestId('live-status').innerText()).trim();
  expect(sentence).toBe('Your card is lent to the virtual machine.');
  const status = page.getByRole('region', { name: 'Status' });
  const details = status.getByTestId('card-details');
  await expect(details).toContainText('USB class');
  await expect(details).toContainText(/(TPDU|APDU|character) level/);
  await expect(details).toContainText('ATR');
  // Outside the folded details, no jargon.
  const visibleText = await status.evaluate((el) => {
    const clone = el.cloneNode(true) as HTMLElement;
    clone.querySelectorAll('details').forEach((d) => d.remove());
    return clone.textContent ?? '';
  });
  expect(visibleText).not.toMatch(/ATR|TPDU|APDU|USB class|T=0|T=1|0x0B|0xFF/);
  await details.getByText('Details for your helpdesk').click();
  await expect(details.locator('code').first()).toBeVisible();
  await shoot(page, testInfo, VIEWPORTS[0], 'helpdesk-details-open');
  await expectNoSeriousA11yViolations(page, 'details open');
});

for (const viewport of VIEWPORTS) {
  test(`favicon, no 404 and AA colours before lending (${viewport.name})`, async ({
    page,
    relay,
  }, testInfo) => {
    const failed: string[] = [];
    page.on('response', (r) => {
      if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
    });
    await page.setViewportSize(viewport);
    await page.goto(relay.url);
    await expect(page.getByRole('heading', { name: 'cardlend' })).toBeVisible();
    const icon = await page.locator('link[rel="icon"]').getAttribute('href');
    expect(icon).toBeTruthy();
    const response = await page.request.get(new URL(icon ?? '', relay.url).toString());
    expect(response.status()).toBe(200);
    expect(response.headers()['content-type']).toContain('image/svg+xml');
    await page.getByText('Connection settings').click();
    await expectNoSeriousA11yViolations(page, 'start, settings open');
    // Input borders: at least 3:1 against their background (WCAG 1.4.11).
    const ratios = await page.locator('input').evaluateAll((inputs) => {
      const lum = (rgb: string): number => {
        const [r, g, b] = (rgb.match(/\d+/g) ?? []).slice(0, 3).map((v) => {
          const c = Number(v) / 255;
          return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
        });
        return 0.2126 * (r ?? 0) + 0.7152 * (g ?? 0) + 0.0722 * (b ?? 0);
      };
      return inputs.map((el) => {
        const style = getComputedStyle(el);
        const a = lum(style.borderTopColor);
        const b = lum(style.backgroundColor);
        return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      });
    });
    expect(ratios.length).toBeGreaterThan(0);
    for (const ratio of ratios) expect(ratio).toBeGreaterThanOrEqual(3);
    await shoot(page, testInfo, viewport, 'start-settings-open');
    expect(failed).toEqual([]);
  });
}
