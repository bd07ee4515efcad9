/**
 * The page, served by the relay, lends the simulated reader's PIV demo card to a real
 * QEMU 7.2 and the VM's side acknowledges every step (issue 4, "Proof").
 */
import { expect, test } from './fixtures.ts';

test.describe('lending a virtual card to QEMU 7.2', () => {
  test('the VM accepts the ATR, sees the card pulled, and gets CardRemove + ReaderRemove on Stop', async ({
    page,
    qemu,
    openApp,
    snap,
  }) => {
    // The simulator (and its demo card's crypto) is fetched only for "Try a virtual card":
    // no script the page loads before carries the demo card's name.
    const scripts: Promise<string>[] = [];
    page.on('response', (r) => {
      if (r.request().resourceType() === 'script') scripts.push(r.text());
    });
    const simulatorScripts = async (): Promise<number> =>
      (await Promise.all(scripts)).filter((t) => t.includes('cardlend demo PIV')).length;
    await openApp(page);
    await expect(
      page.getByText('Lend the smart card in your USB reader to a remote virtual machine'),
    ).toBeVisible();
    await snap(page, 'start');
    expect(scripts.length).toBeGreaterThan(0);
    expect(await simulatorScripts()).toBe(0);

    await page.getByRole('button', { name: 'Try a virtual card' }).click();
    const link = page.getByTestId('status-link');
    await expect(link).toHaveAttribute('data-link', 'lent', { timeout: 20_000 });
    const card = page.getByTestId('status-card');
    await expect(card).toContainText('Present');
    expect(await simulatorScripts()).toBe(1);

    // QEMU logs the ATR it received and that it passes its check (vscard-protocol.md §3).
    const atrLine = await qemu.waitForLog(/VSC_ATR \d+/, 10_000);
    await qemu.waitForLog(/atr passes check/, 5_000);
    await expect(page.getByTestId('status-reader')).toContainText('Virtual vendor-class reader');
    // The ATR length QEMU logged is the length of the ATR the page says it presented.
    const presented = await page.locator('[data-testid="status-card"] code').last().innerText();
    const presentedBytes = presented.trim().split(/\s+/).length;
    expect(atrLine).toContain(`VSC_ATR ${presentedBytes}`);
    await expect(page.getByRole('alert')).toHaveCount(0);
    await snap(page, 'lent');

    // Pull the card: the VM gets CardRemove.
    const beforePull = qemu.output.length;
    await page.getByRole('button', { name: 'Pull the virtual card out' }).click();
    await qemu.waitForLog(/VSC_CardRemove/, 10_000, beforePull);
    await expect(card).toContainText('Removed');
    await snap(page, 'card-pulled');

    // Insert it again: a new ATR reaches the VM.
    const beforeInsert = qemu.output.length;
    await page.getByRole('button', { name: 'Insert the virtual card' }).click();
    await qemu.waitForLog(/VSC_ATR \d+/, 10_000, beforeInsert);
    await expect(card).toContainText('Present');

    // Stop lending: CardRemove then ReaderRemove (usb-ccid logs "CCID Detach").
    const beforeStop = qemu.output.length;
    await page.getByRole('button', { name: 'Stop lending' }).click();
    await qemu.waitForLog(/VSC_CardRemove/, 10_000, beforeStop);
    await qemu.waitForLog(/CCID Detach/, 10_000, beforeStop);
    await expect(link).toHaveAttribute('data-link', 'stopped');
    await expect(page.getByRole('button', { name: 'Stop lending' })).toHaveCount(0);
    await expect(page.getByRole('button', { name: 'Try a virtual card' })).toBeEnabled();
    await snap(page, 'stopped');
  });

  test('a second tab for the same VM is told the VM is in use', async ({
    page,
    context,
    openApp,
    snap,
  }) => {
    await openApp(page);
    await page.getByRole('button', { name: 'Try a virtual card' }).click();
    await expect(page.getByTestId('status-link')).toHaveAttribute('data-link', 'lent', {
      timeout: 20_000,
    });

    const second = await context.newPage();
    await openApp(second);
    await second.getByRole('button', { name: 'Try a virtual card' }).click();
    const alert = second.getByRole('alert');
    await expect(alert).toContainText('Someone is already lending a card to this machine', {
      timeout: 20_000,
    });
    await expect(alert).toContainText('Stop lending');
    await expect(second.getByRole('button', { name: 'Try a virtual card' })).toBeEnabled();
    await snap(second, 'second-tab-in-use');

    // The first tab is unaffected.
    await expect(page.getByTestId('status-link')).toHaveAttribute('data-link', 'lent');
    await page.getByRole('button', { name: 'Stop lending' }).click();
    await expect(page.getByTestId('status-link')).toHaveAttribute('data-link', 'stopped');
  });
});
