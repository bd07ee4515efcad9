/**
 * Issue 11 §4 in the page: a VM whose smart-card chardev lacks nodelay=on delivers each guest
 * command's payload ~40 ms after its header (Nagle). The relay notices the pattern and tells the
 * page, which explains it under "Details for your helpdesk" with the measured stall and the
 * remedies. The VM side is a VSCard stand-in that splits its commands the way QEMU then does.
 */
import { expect, test } from './fixtures.ts';
import { FakeVm } from './ux-helpers.ts';

const SELECT_PIV = '00a4040009a0000003080000100000';

test('a VM channel without nodelay=on is named in the helpdesk details', async ({
  page,
  launchRelay,
}) => {
  const vm = await FakeVm.start();
  try {
    const relay = await launchRelay(vm.port);
    await page.goto(relay.url);
    await page.getByRole('button', { name: 'Try a virtual card' }).click();
    await expect(page.getByTestId('lending-bar')).toHaveAttribute('data-phase', 'lent', {
      timeout: 20_000,
    });
    await vm.waitForCard();
    // Commands sent whole: nothing to say.
    for (let i = 0; i < 4; i++) await vm.send(SELECT_PIV);
    const details = page.getByTestId('card-details');
    await details.getByText('Details for your helpdesk').click();
    await expect(page.getByTestId('channel-notice')).toHaveCount(0);

    // Header, then the payload 60 ms later, again and again: the relay wants most of the last
    // 16 messages from the VM stalled before it says so.
    for (let i = 0; i < 12; i++) await vm.sendStalled(SELECT_PIV, 60);
    const notice = page.getByTestId('channel-notice');
    await expect(notice).toContainText("This VM's smart-card channel is slow");
    await expect(notice).toContainText(/waits about \d+ ms/);
    await expect(notice).toContainText('nodelay=on');
    await expect(notice).toContainText('relay notice nagle-suspected');
    // Lending goes on.
    await expect(page.getByTestId('lending-bar')).toHaveAttribute('data-phase', 'lent');
  } finally {
    await vm.stop();
  }
});
