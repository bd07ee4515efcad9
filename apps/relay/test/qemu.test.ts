/**
 * The relay against real QEMU (7.2 from Debian 12, 10.0 from bookworm-backports): a paused
 * machine with usb-ccid + ccid-card-passthru, driven through the relay with the vscard codec.
 */
import { clientInit, encodeMessage, RelayClose } from '@cardlend/vscard';
import type { QemuVersion } from '@cardlend/qemu-testbed';
import { beforeEach, describe, expect, it } from 'vitest';
import { Browser, until, wsUrl } from './helpers.ts';
import { CAC_ATR, qemuRigPerTest, VscardBrowser } from './relay-rig.ts';

const YUBIKEY_ATR = Uint8Array.from(
  Buffer.from('3bfd1300008131fe158073c021c057597562694b657940', 'hex'),
);
/** Valid T=1 ATR that QEMU's structure check refuses (vscard-protocol.md §3.1). */
const REFUSED_ATR = Uint8Array.from(Buffer.from('3b84015653434487', 'hex'));

describe.each<QemuVersion>(['7.2', '10.0'])('relay ⇄ real QEMU %s', (version) => {
  const rig = qemuRigPerTest(version);
  const openBrowser = async () => new VscardBrowser(await rig.open());

  beforeEach(async () => {
    await rig.startQemu({ debug: 2 });
    await rig.startRelay(rig.qemu.port);
  });

  /** The last session ended and a fresh one is served: Init, ReaderAdd, a card's ATR answered. */
  async function expectFreshSessionServed(): Promise<void> {
    await until(() => rig.relay.sessions.size === 0, 3000, 'session end');
    const next = await openBrowser();
    expect(await next.request(clientInit())).toMatchObject({ type: 'Init', version: 2 });
    await next.expectAck({ type: 'ReaderAdd', readerId: 0, name: '' });
    await next.expectAck({ type: 'ATR', readerId: 0, atr: CAC_ATR });
  }

  it('handshake: Init ↔ Init, ReaderAdd acked with Error(0)', async () => {
    const b = await openBrowser();
    const init = await b.request(clientInit());
    expect(init).toMatchObject({
      type: 'Init',
      readerId: 0xffffffff,
      version: 2,
      capabilities: [0],
    });
    expect(Buffer.from((init as { magic: Uint8Array }).magic).toString()).toBe('VSCD');
    expect(
      await b.request({ type: 'ReaderAdd', readerId: 0xffffffff, name: 'cardlend test' }),
    ).toEqual({
      type: 'Error',
      readerId: 0,
      code: 0,
    });
  });

  it('accepted and refused ATRs, CardRemove', async () => {
    const b = await openBrowser();
    await b.expectAck({ type: 'ReaderAdd', readerId: 0, name: '' });
    await b.expectAck({ type: 'ATR', readerId: 0, atr: YUBIKEY_ATR });
    await b.expectAck({ type: 'ATR', readerId: 0, atr: CAC_ATR });
    const mark = rig.qemu.output.length;
    await b.expectAck({ type: 'ATR', readerId: 0, atr: REFUSED_ATR }, 1);
    await rig.qemu.waitForLog(/ATR is inconsistent/, 3000, mark);
    await b.expectAck({ type: 'CardRemove', readerId: 0 });
    await b.expectAck({ type: 'ReaderRemove', readerId: 0 });
  });

  it('reconnect after a disconnect: a new session is served at once', async () => {
    const first = await openBrowser();
    await first.request(clientInit());
    await first.expectAck({ type: 'ReaderAdd', readerId: 0, name: '' });
    first.browser.ws.close(1000);
    await first.browser.closed;
    const second = await openBrowser();
    expect(await second.request(clientInit())).toMatchObject({ type: 'Init', version: 2 });
    await second.expectAck({ type: 'ATR', readerId: 0, atr: CAC_ATR });
  });

  it('cleanup on browser disconnect: QEMU sees CardRemove and ReaderRemove', async () => {
    const b = await openBrowser();
    await b.request({ type: 'ReaderAdd', readerId: 0, name: '' });
    await b.expectAck({ type: 'ATR', readerId: 0, atr: CAC_ATR });
    const mark = rig.qemu.output.length;
    b.browser.ws.terminate(); // the browser vanishes without a close handshake
    await rig.qemu.waitForLog(/VSC_CardRemove/, 3000, mark);
    await rig.qemu.waitForLog(/CCID Detach/, 3000, mark); // ReaderRemove (usb-ccid debug)
    const after = rig.qemu.output.slice(mark);
    expect(after.findIndex((l) => /VSC_CardRemove/.test(l))).toBeLessThan(
      after.findIndex((l) => /CCID Detach/.test(l)),
    );
    // The relay closed TCP cleanly: the next session is served (no half-open socket holding QEMU).
    await expectFreshSessionServed();
  });

  it('refuses a second browser session at once; the first keeps working', async () => {
    const first = await openBrowser();
    await first.request(clientInit());
    const second = new Browser(wsUrl(rig.relay));
    const closed = await second.closed;
    expect(closed.code).toBe(RelayClose.VM_IN_USE);
    await first.expectAck({ type: 'ReaderAdd', readerId: 0, name: '' });
  });

  it.each([
    ['a truncated header', Buffer.from('00000005000000', 'hex')],
    ['a partial ATR message', Buffer.from('000000050000000000000008' + '3b7a', 'hex')],
    ['a length over 65524', Buffer.from('00000007000000000000fff5', 'hex')],
    ['an unknown type', Buffer.from('0000000a0000000000000000', 'hex')],
    ['a text frame', 'hello'],
  ])(
    'malformed frames never reach QEMU (%s); QEMU answers normally afterwards',
    async (_name, bad) => {
      const b = await openBrowser();
      await b.request(clientInit());
      const mark = rig.qemu.output.length;
      b.browser.send(bad, typeof bad !== 'string');
      const closed = await b.browser.closed;
      expect(closed.code).toBe(RelayClose.BAD_FRAME);
      await until(() => rig.relay.sessions.size === 0, 3000, 'session end');
      // QEMU saw only the relay's cleanup — no "unexpected message", no wedge.
      expect(rig.qemu.output.slice(mark).join('\n')).not.toMatch(/unexpected message/);
      await expectFreshSessionServed();
    },
  );

  it('oversized frames and floods are refused; QEMU is never wedged', async () => {
    const big = await openBrowser();
    await big.request(clientInit());
    big.browser.send(Buffer.alloc(12 + 65525 + 100)); // larger than any VSCard message
    expect((await big.browser.closed).code).toBe(RelayClose.MESSAGE_TOO_BIG);
    await until(() => rig.relay.sessions.size === 0, 3000, 'session end');
    await rig.startRelay(rig.qemu.port, { messageRate: { ratePerSecond: 50, burst: 20 } });
    const flood = await openBrowser();
    const init = encodeMessage(clientInit());
    for (let i = 0; i < 500; i++) flood.browser.send(init);
    expect((await flood.browser.closed).code).toBe(RelayClose.RATE_LIMITED);
    await expectFreshSessionServed();
  });

  it('QEMU restart: the relay stays up and serves the new QEMU on the same port', async () => {
    const b = await openBrowser();
    await b.request(clientInit());
    const port = rig.qemu.port;
    await rig.stopQemu();
    expect((await b.browser.closed).code).toBe(RelayClose.VM_CLOSED);
    await rig.startQemu({ port });
    await expectFreshSessionServed();
  });

  it('QEMU stops → the browser gets VM_CLOSED', async () => {
    const b = await openBrowser();
    await b.request(clientInit());
    await rig.stopQemu();
    const closed = await b.browser.closed;
    expect(closed.code).toBe(RelayClose.VM_CLOSED);
    expect(closed.reason).toMatch(/VM closed/);
  });
});
