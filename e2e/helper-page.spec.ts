/**
 * The page offers the local helper (issue 13), in Debian's Chromium with the page made public
 * and the Local Network Access permission set over DevTools; the helper runs in this process
 * against a real pcscd + vpcd with the PIV demo card; the VM is real QEMU 7.2 (fixtures.ts).
 *
 * - denied: the helper panel explains the browser's block and how to undo it;
 * - granted, a page without WebUSB: "not approved" (no reader name on the page), the approval
 *   flow with the same code on the page and in the terminal, the helper's reader listed with
 *   its route, lent through the bridge (QEMU gets the ATR), the helper stopped mid-lending →
 *   the page says so and QEMU gets CardRemove.
 */
import { expect, test } from './fixtures.ts';
import { publicPage, setLoopbackPermission, useHelperRig } from './helper-e2e.ts';

const READER = 'Virtual PCD 00 00';
const rig = useHelperRig({ withPivCard: true });

const NO_WEBUSB = 'delete Navigator.prototype.usb;';

test('denied: the panel explains the block and how to undo it', async ({ launchRelay }) => {
  const relay = await launchRelay(1);
  const origin = `http://127.0.0.1:${relay.port}`;
  const { browser, page } = await publicPage(relay.port, 'about:blank');
  try {
    await page.goto(relay.url);
    await setLoopbackPermission(browser, origin, 'denied');
    await page.goto(`${relay.url}?helper=${encodeURIComponent(rig.helper.url)}`);
    const notice = page.getByTestId('helper-notice');
    await expect(notice).toHaveAttribute('data-helper-problem', 'helper-blocked', {
      timeout: 15_000,
    });
    await expect(notice).toContainText('Local network access');
    expect(rig.helper.connectionCount()).toBe(0);
  } finally {
    await browser.close();
  }
});

test('granted, no WebUSB: approval, the reader via the helper, lent to QEMU; the helper stops', async ({
  qemu,
  launchRelay,
}) => {
  const relay = await launchRelay(qemu.port);
  const origin = `http://127.0.0.1:${relay.port}`;
  const { browser, page } = await publicPage(relay.port, 'about:blank', NO_WEBUSB);
  try {
    await page.goto(relay.url);
    await setLoopbackPermission(browser, origin, 'granted');
    await page.goto(`${relay.url}?helper=${encodeURIComponent(rig.helper.url)}`);
    expect(await page.evaluate(() => 'usb' in navigator)).toBe(false);
    const panel = page.getByTestId('helper-panel');
    await expect(panel.getByTestId('helper-notice')).toHaveAttribute(
      'data-helper-problem',
      'helper-not-approved',
      { timeout: 15_000 },
    );
    await expect(page.locator('body')).not.toContainText('Virtual PCD');

    // Approval: the page and the terminal show the same code; the person answers y.
    rig.terminal.answer = 'y';
    const release = rig.terminal.hold();
    await panel.getByTestId('helper-pair').click();
    const shown = (await panel.getByTestId('helper-pairing-code').innerText()).match(
      /(\d{3}) (\d{3})/,
    );
    expect(shown).not.toBeNull();
    await expect.poll(() => rig.terminal.questions.length).toBe(1);
    expect(rig.terminal.questions[0]).toContain(origin);
    expect(rig.terminal.questions[0]).toContain(`${shown?.[1]} ${shown?.[2]}`);
    release();

    // The helper's reader, with its route; lend it.
    const readers = panel.getByTestId('helper-readers');
    await expect(readers).toContainText(READER, { timeout: 15_000 });
    await expect(readers).toContainText('via the cardlend helper (PC/SC)');
    await expect(readers).toContainText('card inserted');
    await panel.getByRole('button', { name: `Lend the card in ${READER}` }).click();
    await qemu.waitForLog(/VSC_ATR \d+/, 20_000);
    await expect(page.getByRole('button', { name: 'Stop lending' }).first()).toBeVisible();
    // The helpdesk details name the route, not a USB class the page never saw.
    const details = page.getByTestId('card-details');
    await details.getByText('Details for your helpdesk').click();
    await expect(details).toContainText('cardlend helper (PC/SC)');
    await expect(details).not.toContainText('USB class');

    // The helper stops mid-lending: the page says so, the VM sees the card removed.
    const before = qemu.output.length;
    await rig.helper.close();
    await qemu.waitForLog(/VSC_CardRemove/, 15_000, before);
    await expect(panel.getByTestId('helper-notice')).toHaveAttribute(
      'data-helper-problem',
      'helper-stopped',
    );
    await expect(panel).toContainText('The cardlend helper stopped');
  } finally {
    await browser.close();
  }
});
