/**
 * Issue 14 §6: token failures told apart — expired (with the time read from the token),
 * forged, missing — and a damaged link flagged as soon as the page opens.
 */
import { expect, test } from './fixtures.ts';
import {
  expectNoSeriousA11yViolations,
  RelayProcess,
  shoot,
  signedToken,
  VIEWPORTS,
  writeSecret,
} from './ux-helpers.ts';

test.use({ timezoneId: 'UTC' });

const hhmm = (epochMs: number): string => {
  const d = new Date(epochMs);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
};

for (const viewport of VIEWPORTS) {
  test(`expired, forged, missing and damaged links each say what they are (${viewport.name})`, async ({
    page,
    qemu,
  }, testInfo) => {
    const { file, secret } = await writeSecret(testInfo);
    const relay = await RelayProcess.start(qemu.port, ['--token-secret-file', file]);
    try {
      await page.setViewportSize(viewport);
      const alert = page.getByRole('alert');
      const tryButton = page.getByRole('button', { name: 'Try a virtual card' });

      // Expired: flagged on load with the time from the token, and again when the relay refuses.
      const mintedAtMs = Date.now() - 2 * 3600_000;
      const expired = signedToken({
        secret,
        targetId: 'default',
        ttlSeconds: 600,
        ageSeconds: 7200,
      });
      const expiredAt = hhmm(Math.floor(mintedAtMs / 1000) * 1000 + 600_000);
      await page.goto(`${relay.url}#token=${expired}`);
      await expect(alert).toContainText('This link has expired');
      await expect(alert).toContainText(`stopped working at ${expiredAt}`);
      await expect(alert).toContainText('Ask whoever sent you the link for a new one');
      await shoot(page, testInfo, viewport, 'token-expired-on-load');
      await expectNoSeriousA11yViolations(page, 'expired link');
      await tryButton.click();
      await expect(alert).toContainText('relay close 4001', { timeout: 20_000 });
      await expect(alert).toContainText(`stopped working at ${expiredAt}`);
      await expect(alert).toContainText('relay close 4001 · token expired');

      // Forged: a well-formed, in-date token whose signature is wrong.
      const good = signedToken({ secret, targetId: 'default', ttlSeconds: 600 });
      const forged = good.slice(0, -2) + (good.endsWith('AA') ? 'BB' : 'AA');
      await page.goto(`${relay.url}?x=forged#token=${forged}`);
      await expect(alert).toHaveCount(0);
      await tryButton.click();
      await expect(alert).toContainText('This link is not valid for this relay', {
        timeout: 20_000,
      });
      await expect(alert).not.toContainText('expired');
      await expect(page.getByTestId('notice-area')).toBeFocused();
      await shoot(page, testInfo, viewport, 'token-forged');

      // Missing: the relay needs a token and the link has none.
      await page.goto(`${relay.url}?x=missing`);
      await expect(alert).toHaveCount(0);
      await tryButton.click();
      await expect(alert).toContainText('This relay needs a session link', { timeout: 20_000 });
      await shoot(page, testInfo, viewport, 'token-missing');

      // Damaged: cut short, or with characters a token cannot have — flagged on load.
      for (const damaged of ['v1.eyJ0aWQiOiJsYWI', 'v1.abc%20def.sig']) {
        await page.goto(`${relay.url}?x=${damaged.length}#token=${damaged}`);
        await expect(alert).toContainText('This link is damaged');
      }
      await shoot(page, testInfo, viewport, 'token-damaged-on-load');
      expect(qemu.output.some((l) => /VSC_ATR/.test(l))).toBe(false);
    } finally {
      await relay.kill();
    }
  });
}
