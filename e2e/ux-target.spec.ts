/**
 * Issue 14 §2: the page names where the card goes — the token's target id, the relay host and
 * who asked — before lending and while lent; a bad or unreachable `relay=` is refused, never
 * replaced by the page's own relay.
 */
import { expect, test } from './fixtures.ts';
import {
  expectNoSeriousA11yViolations,
  expectStopInViewport,
  RelayProcess,
  shoot,
  signedToken,
  VIEWPORTS,
  writeSecret,
  writeTargetsConfig,
} from './ux-helpers.ts';

for (const viewport of VIEWPORTS) {
  test(`the target line names the VM, the relay and who asked, before and while lent (${viewport.name})`, async ({
    page,
    qemu,
  }, testInfo) => {
    const { file, secret } = await writeSecret(testInfo);
    const config = await writeTargetsConfig(testInfo, 'lab-1', qemu.port);
    const relay = await RelayProcess.start(qemu.port, [
      '--config',
      config,
      '--token-secret-file',
      file,
    ]);
    try {
      await page.setViewportSize(viewport);
      const token = signedToken({ secret, targetId: 'lab-1', ttlSeconds: 600 });
      await page.goto(`${relay.url}?from=IT%20helpdesk#token=${token}`);
      const line = page.getByTestId('target-line');
      await expect(line).toContainText(`You are lending to lab-1 via 127.0.0.1:${relay.port}`);
      await expect(line).toContainText('Asked by IT helpdesk (as the link says)');
      await expect(page.getByRole('alert')).toHaveCount(0);
      await shoot(page, testInfo, viewport, 'target-before-lending');
      await expectNoSeriousA11yViolations(page, 'before lending');

      await page.getByRole('button', { name: 'Try a virtual card' }).click();
      const bar = page.getByTestId('lending-bar');
      await expect(bar).toHaveAttribute('data-phase', 'lent', { timeout: 20_000 });
      await expect(bar).toContainText('Lent to lab-1');
      await expect(bar).toContainText(`via 127.0.0.1:${relay.port}`);
      await expect(page).toHaveTitle('Lent to lab-1 · cardlend');
      await expect(line).toContainText('You are lending to lab-1');
      await expectStopInViewport(page);
      await shoot(page, testInfo, viewport, 'target-while-lent');
      await expectNoSeriousA11yViolations(page, 'while lent');
      await bar.getByRole('button', { name: 'Stop lending' }).click();
      await expect(page.getByTestId('status-link')).toHaveAttribute('data-link', 'stopped');
    } finally {
      await relay.kill();
    }
  });
}

for (const viewport of VIEWPORTS) {
  test(`a relay= that cannot be used is refused on load and on click, with no fallback (${viewport.name})`, async ({
    page,
    qemu,
    openApp,
  }, testInfo) => {
    await page.setViewportSize(viewport);
    await openApp(page, { relay: 'ftp://relay.example.com' });
    const alert = page.getByRole('alert');
    await expect(alert).toContainText('The relay address is not valid');
    await expect(page.getByTestId('target-line')).toContainText('Lending is blocked');
    await shoot(page, testInfo, viewport, 'bad-relay-on-load');
    await alert.getByRole('button', { name: /Dismiss/ }).click();
    await page.getByRole('button', { name: 'Try a virtual card' }).click();
    await expect(page.getByRole('alert')).toContainText('The relay address is not valid');
    await expect(page.getByTestId('status-link')).toHaveAttribute('data-link', 'idle');
    await expect(page.getByTestId('lending-bar')).toHaveCount(0);
    // The page's own relay (and its VM) was never used.
    expect(qemu.output.some((l) => /CCID Attach|VSC_ATR|VSC_ReaderAdd/.test(l))).toBe(false);
  });
}

for (const viewport of VIEWPORTS) {
  test(`an unreachable relay= is named and refused before lending (${viewport.name})`, async ({
    page,
    openApp,
  }, testInfo) => {
    await page.setViewportSize(viewport);
    await openApp(page, { relay: 'ws://127.0.0.1:9/vscard' });
    const line = page.getByTestId('target-line');
    await expect(line).toContainText('via 127.0.0.1:9');
    await expect(line).toContainText('127.0.0.1:9 cannot be reached, so lending is blocked', {
      timeout: 15_000,
    });
    await shoot(page, testInfo, viewport, 'unreachable-relay');
    await page.getByRole('button', { name: 'Try a virtual card' }).click();
    const alert = page.getByRole('alert');
    await expect(alert).toContainText('The relay cannot be reached', { timeout: 15_000 });
    await expect(page.getByTestId('notice-area')).toBeFocused();
    await expect(page.getByTestId('status-link')).toHaveAttribute('data-link', 'idle');
    await expect(page.getByTestId('status-reader')).toContainText('None chosen');
    await shoot(page, testInfo, viewport, 'unreachable-relay-refused');
    await expectNoSeriousA11yViolations(page, 'unreachable relay refused');
  });
}
