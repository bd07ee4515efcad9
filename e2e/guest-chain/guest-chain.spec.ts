/**
 * Issue 5 end to end, on QEMU 7.2 (Debian) and QEMU 10.0 (bookworm-backports): a Linux guest
 * reads the ATR and a ~1 KB object through the page's lent card, sees the card pulled and
 * reinserted, keeps no stale card after Stop lending or a closed tab, and gets the card back
 * when the page reconnects to a relay restarted after a crash or a graceful shutdown. Walk-through in chain.ts.
 */
import { ensureQemu10 } from '@cardlend/qemu-testbed';
import { test } from '../fixtures.ts';
import { runGuestChain } from './chain.ts';

/** One boot with all steps; each step is bounded (60 s) on a busy 2-core machine. */
const CHAIN_TIMEOUT_MS = 480_000;

test.describe('a Linux guest uses the card lent by the page', () => {
  test('QEMU 7.2: ATR (T=0 compatibility for a T=1-only card), long answer, pull/insert, relay crash, Stop, closed tab, relay restart', async ({
    context,
    page,
    snap,
  }, testInfo) => {
    test.setTimeout(CHAIN_TIMEOUT_MS);
    await runGuestChain({
      context,
      page,
      snap,
      qemu: { label: 'qemu72' },
      attach: (name, body) => testInfo.attach(name, { body, contentType: 'text/plain' }),
    });
  });

  test('QEMU 10.0: the same chain', async ({ context, page, snap }, testInfo) => {
    test.setTimeout(CHAIN_TIMEOUT_MS);
    const qemu10 = await ensureQemu10();
    await runGuestChain({
      context,
      page,
      snap,
      qemu: {
        label: 'qemu10',
        qemuBinary: qemu10.binary,
        qemuEnv: qemu10.env,
        qemuArgsExtra: qemu10.args,
      },
      attach: (name, body) => testInfo.attach(name, { body, contentType: 'text/plain' }),
    });
  });
});
