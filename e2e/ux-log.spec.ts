/**
 * Issue 14 §5: the activity log. A VERIFY without data is a PIN-status query (nothing tried,
 * nothing hidden); a real wrong PIN raises a warning beside the status with the tries left;
 * no false precision in times; neither the table nor the export reveals a PIN's length.
 * The VM side is a VSCard stand-in that sends exactly these guest commands.
 */
import { readFile } from 'node:fs/promises';
import { expect, test } from './fixtures.ts';
import { expectNoSeriousA11yViolations, FakeVm, shoot, VIEWPORTS } from './ux-helpers.ts';

const SELECT_PIV = '00a4040009a0000003080000100000';
const STATUS_QUERY = '00200080';
/** Wrong PINs of two lengths: "000000" padded to 8 bytes, and "0000" unpadded. */
const WRONG_PIN_8 = '0020008008303030303030ffff';
const WRONG_PIN_4 = '002000800430303030';
const RIGHT_PIN = '0020008008313233343536ffff';

const sw = (answer: Buffer): string => answer.subarray(answer.length - 2).toString('hex');

for (const viewport of VIEWPORTS) {
  test(`PIN-status queries, wrong-PIN warning and no PIN length in the log (${viewport.name})`, async ({
    page,
    launchRelay,
  }, testInfo) => {
    const vm = await FakeVm.start();
    try {
      const relay = await launchRelay(vm.port);
      await page.setViewportSize(viewport);
      await page.goto(relay.url);
      await page.getByRole('button', { name: 'Try a virtual card' }).click();
      await expect(page.getByTestId('lending-bar')).toHaveAttribute('data-phase', 'lent', {
        timeout: 20_000,
      });
      await vm.waitForCard();
      expect(sw(await vm.send(SELECT_PIV))).toBe('9000');
      expect(sw(await vm.send(STATUS_QUERY))).toBe('63c3');

      const log = page.getByRole('region', { name: 'Card activity', exact: true });
      const rows = log.getByRole('row');
      const query = rows.filter({ hasText: 'PIN status query' }).first();
      await expect(query).toContainText('PIN not verified yet, 3 tries left');
      await expect(query).not.toContainText('PIN hidden');
      await expect(query).not.toContainText(/failed/i);
      await expect(page.getByTestId('pin-warning')).toHaveCount(0);
      await shoot(page, testInfo, viewport, 'log-pin-status-query');

      // A real wrong PIN: a warning beside the status, with the tries left.
      expect(sw(await vm.send(WRONG_PIN_8))).toBe('63c2');
      const warning = page.getByTestId('pin-warning');
      await expect(warning).toContainText('A wrong PIN was entered in the virtual machine');
      await expect(warning).toContainText('2 tries are left');
      const wrong = rows.filter({ hasText: 'PIN hidden' }).first();
      await expect(wrong).toContainText('Verification failed, 2 tries left');
      await expect(wrong.locator('.c-sent')).toHaveText('hidden');
      // A PIN-status query now says 2 tries, still not "failed".
      expect(sw(await vm.send(STATUS_QUERY))).toBe('63c2');
      await expect(rows.filter({ hasText: 'PIN status query' }).first()).toContainText(
        'PIN not verified yet, 2 tries left',
      );
      // A 4-byte PIN (a card without padding would take it): its size is hidden just the same.
      await vm.send(WRONG_PIN_4);
      await expect(rows.filter({ hasText: 'PIN hidden' })).toHaveCount(2);
      for (const cell of await rows.filter({ hasText: 'PIN hidden' }).locator('.c-sent').all())
        await expect(cell).toHaveText('hidden');
      // Whole milliseconds only.
      await expect(log).not.toContainText(/\d\.\d+ ms/);
      await shoot(page, testInfo, viewport, 'log-wrong-pin-warning');
      await expectNoSeriousA11yViolations(page, 'log with a wrong-PIN warning');

      // The export carries no PIN length either.
      const downloading = page.waitForEvent('download');
      await page.getByRole('button', { name: 'Export log' }).click();
      const file = testInfo.outputPath('activity.json');
      await (await downloading).saveAs(file);
      const text = await readFile(file, 'utf8');
      expect(text).not.toContain('30303030');
      const doc = JSON.parse(text) as {
        entries: { command: string; lc: number | null; pinUse: string | null; latencyMs: number }[];
      };
      const verifies = doc.entries.filter((e) => e.command === 'VERIFY');
      expect(verifies.map((e) => [e.pinUse, e.lc])).toEqual([
        ['status-query', 0],
        ['pin', null],
        ['status-query', 0],
        ['pin', null],
      ]);
      for (const e of doc.entries) expect(Number.isInteger(e.latencyMs)).toBe(true);

      // The right PIN: the warning goes.
      expect(sw(await vm.send(RIGHT_PIN))).toBe('9000');
      await expect(warning).toHaveCount(0);
      await page.getByTestId('lending-bar').getByRole('button', { name: 'Stop lending' }).click();
      await expect(page.getByTestId('lending-bar')).toHaveCount(0);
    } finally {
      await vm.stop();
    }
  });
}
