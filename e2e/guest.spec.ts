/**
 * A real Linux guest (pcscd + libccid + OpenSC, packages/guest-image) under QEMU 7.2 signs with
 * the PIV demo card lent by the page. The page's live APDU view lists the guest's commands,
 * VERIFY without its PIN, and the exported log carries no PIN bytes.
 */
import { readFile } from 'node:fs/promises';
import { buildGuest, freePort, GuestScenario, startGuest } from '@cardlend/guest-image';
import { expect, test } from './fixtures.ts';

/** '123456' (the demo card's PIN, pkcs11-tool's default here) as hex: must never appear. */
const PIN_HEX = '313233343536';

test('a Linux guest signs with the lent card; the page shows its commands without the PIN', async ({
  page,
  launchRelay,
  snap,
}, testInfo) => {
  test.setTimeout(300_000);
  const image = await buildGuest();
  const vscardPort = await freePort();
  const guest = startGuest({
    image,
    scenario: GuestScenario.Pkcs11Sign,
    vscardPort,
    timeoutMs: 240_000,
  });
  try {
    await guest.waitForMarker((m) => m.kind === 'BOOT', 60_000);
    const relay = await launchRelay(vscardPort);
    await page.goto(relay.url);
    await page.getByRole('button', { name: 'Try a virtual card' }).click();
    await expect(page.getByTestId('status-link')).toHaveAttribute('data-link', 'lent', {
      timeout: 30_000,
    });

    const signed = await guest.waitForMarker((m) => m.kind === 'RESULT', 200_000);
    await snap(page, 'guest-finished');
    const out = signed.fields['out'];
    const reason = `guest: ${signed.fields['reason'] ?? ''} ${out === undefined ? '' : Buffer.from(out, 'hex').toString('utf8')}`;
    expect(signed.fields, reason).toMatchObject({ name: 'pkcs11-sign', ok: '1' });

    const log = page.getByRole('region', { name: 'Card activity', exact: true });
    await expect(log).toContainText('SELECT');
    await expect(log).toContainText('GENERAL AUTHENTICATE');
    // The VERIFY that carried the PIN (a VERIFY without data is a PIN-status query, issue 14 §5).
    const verifyRow = log
      .getByRole('row')
      .filter({ hasText: 'VERIFY' })
      .filter({ hasText: 'PIN hidden' })
      .first();
    await expect(verifyRow).toContainText('9000');
    await expect(verifyRow.locator('.c-sent')).toHaveText('hidden');
    await snap(page, 'guest-signed-apdu-log');

    const downloading = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Export log' }).click();
    const download = await downloading;
    const file = testInfo.outputPath('activity.json');
    await download.saveAs(file);
    const text = await readFile(file, 'utf8');
    expect(text.toLowerCase()).not.toContain(PIN_HEX);
    const doc = JSON.parse(text) as {
      format: string;
      entries: { command: string; redacted: boolean; commandHex: string | null }[];
    };
    expect(doc.format).toBe('cardlend-apdu-log/1');
    const verifies = doc.entries.filter((e) => e.command === 'VERIFY');
    expect(verifies.length).toBeGreaterThan(0);
    for (const v of verifies) expect(v).toMatchObject({ redacted: true, commandHex: null });
    expect(
      doc.entries.some((e) => e.command === 'GENERAL AUTHENTICATE' && e.commandHex !== null),
    ).toBe(true);
  } finally {
    await guest.kill();
  }
});
