/**
 * The relay against real QEMU (7.2 from Debian 12, 10.0 from bookworm-backports): a paused
 * machine with usb-ccid + ccid-card-passthru, driven through the relay with the vscard codec.
 */
import {
  clientInit,
  decodeMessage,
  encodeMessage,
  RelayClose,
  type VscardMessage,
} from '@cardlend/vscard';
import { ensureQemu10, type QemuHandle, type QemuVersion, startQemu } from '@cardlend/qemu-testbed';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RelayServer } from '../src/server.ts';
import { Browser, startTestRelay, until, wsUrl } from './helpers.ts';

const YUBIKEY_ATR = Uint8Array.from(
  Buffer.from('3bfd1300008131fe158073c021c057597562694b657940', 'hex'),
);
const CAC_ATR = Uint8Array.from(Buffer.from('3b7a18000073667465206364313434', 'hex'));
/** Valid T=1 ATR that QEMU's structure check refuses (vscard-protocol.md §3.1). */
const REFUSED_ATR = Uint8Array.from(Buffer.from('3b84015653434487', 'hex'));

/** A browser speaking VSCard through the relay with @cardlend/vscard's codec. */
class VscardBrowser {
  readonly browser: Browser;
  #next = 0;
  constructor(browser: Browser) {
    this.browser = browser;
  }
  static async open(relay: RelayServer): Promise<VscardBrowser> {
    const b = new Browser(wsUrl(relay));
    await b.opened;
    return new VscardBrowser(b);
  }
  send(msg: VscardMessage): void {
    this.browser.send(encodeMessage(msg, { errorCodeByteOrder: 'le' }));
  }
  async receive(timeoutMs = 3000): Promise<VscardMessage> {
    const frame = await this.browser.frame(this.#next++, timeoutMs);
    return decodeMessage(Uint8Array.from(frame));
  }
  /** Sends and returns the reply (QEMU answers control messages synchronously, §3). */
  async request(msg: VscardMessage): Promise<VscardMessage> {
    this.send(msg);
    return this.receive();
  }
  async expectNoMessage(ms: number): Promise<void> {
    const before = this.browser.frames.length;
    await new Promise((r) => setTimeout(r, ms));
    expect(this.browser.frames.length).toBe(before);
  }
}

describe.each<QemuVersion>(['7.2', '10.0'])('relay ⇄ real QEMU %s', (version) => {
  let qemu: QemuHandle;
  let relay: RelayServer;
  const browsers: VscardBrowser[] = [];

  async function openBrowser(): Promise<VscardBrowser> {
    const b = await VscardBrowser.open(relay);
    browsers.push(b);
    return b;
  }

  beforeAll(async () => {
    if (version === '10.0') await ensureQemu10();
  });

  beforeEach(async () => {
    qemu = await startQemu({ version, debug: 2 });
    ({ relay } = await startTestRelay(qemu.port));
  });

  afterEach(async () => {
    for (const b of browsers.splice(0)) b.browser.ws.terminate();
    await relay.close();
    await qemu.stop();
  });

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
    expect(await b.request({ type: 'ReaderAdd', readerId: 0, name: '' })).toMatchObject({
      type: 'Error',
      code: 0,
    });
    expect(await b.request({ type: 'ATR', readerId: 0, atr: YUBIKEY_ATR })).toMatchObject({
      type: 'Error',
      code: 0,
    });
    expect(await b.request({ type: 'ATR', readerId: 0, atr: CAC_ATR })).toMatchObject({
      type: 'Error',
      code: 0,
    });
    const mark = qemu.output.length;
    expect(await b.request({ type: 'ATR', readerId: 0, atr: REFUSED_ATR })).toMatchObject({
      type: 'Error',
      code: 1,
    });
    await qemu.waitForLog(/ATR is inconsistent/, 3000, mark);
    expect(await b.request({ type: 'CardRemove', readerId: 0 })).toMatchObject({
      type: 'Error',
      code: 0,
    });
    expect(await b.request({ type: 'ReaderRemove', readerId: 0 })).toMatchObject({
      type: 'Error',
      code: 0,
    });
  });

  it('reconnect after a disconnect: a new session is served at once', async () => {
    const first = await openBrowser();
    await first.request(clientInit());
    expect(await first.request({ type: 'ReaderAdd', readerId: 0, name: '' })).toMatchObject({
      code: 0,
    });
    first.browser.ws.close(1000);
    await first.browser.closed;
    const second = await openBrowser();
    expect(await second.request(clientInit())).toMatchObject({ type: 'Init', version: 2 });
    expect(await second.request({ type: 'ATR', readerId: 0, atr: CAC_ATR })).toMatchObject({
      code: 0,
    });
  });

  it('cleanup on browser disconnect: QEMU sees CardRemove and ReaderRemove', async () => {
    const b = await openBrowser();
    await b.request({ type: 'ReaderAdd', readerId: 0, name: '' });
    expect(await b.request({ type: 'ATR', readerId: 0, atr: CAC_ATR })).toMatchObject({ code: 0 });
    const mark = qemu.output.length;
    b.browser.ws.terminate(); // the browser vanishes without a close handshake
    await qemu.waitForLog(/VSC_CardRemove/, 3000, mark);
    await qemu.waitForLog(/CCID Detach/, 3000, mark); // ReaderRemove (usb-ccid debug)
    const after = qemu.output.slice(mark);
    expect(after.findIndex((l) => /VSC_CardRemove/.test(l))).toBeLessThan(
      after.findIndex((l) => /CCID Detach/.test(l)),
    );
    // The relay closed TCP cleanly: the next session is served (no half-open socket holding QEMU).
    await until(() => relay.sessions.size === 0, 3000, 'session end');
    const next = await openBrowser();
    expect(await next.request(clientInit())).toMatchObject({ type: 'Init' });
  });

  it('refuses a second browser session at once; the first keeps working', async () => {
    const first = await openBrowser();
    await first.request(clientInit());
    const second = new Browser(wsUrl(relay));
    const closed = await second.closed;
    expect(closed.code).toBe(RelayClose.VM_IN_USE);
    expect(await first.request({ type: 'ReaderAdd', readerId: 0, name: '' })).toMatchObject({
      code: 0,
    });
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
      const mark = qemu.output.length;
      b.browser.send(bad, typeof bad !== 'string');
      const closed = await b.browser.closed;
      expect(closed.code).toBe(RelayClose.BAD_FRAME);
      await until(() => relay.sessions.size === 0, 3000, 'session end');
      // QEMU saw only the relay's cleanup — no "unexpected message", no wedge.
      expect(qemu.output.slice(mark).join('\n')).not.toMatch(/unexpected message/);
      const next = await openBrowser();
      expect(await next.request(clientInit())).toMatchObject({ type: 'Init', version: 2 });
      expect(await next.request({ type: 'ReaderAdd', readerId: 0, name: '' })).toMatchObject({
        code: 0,
      });
      expect(await next.request({ type: 'ATR', readerId: 0, atr: CAC_ATR })).toMatchObject({
        code: 0,
      });
    },
  );

  it('oversized frames and floods are refused; QEMU is never wedged', async () => {
    const big = await openBrowser();
    await big.request(clientInit());
    big.browser.send(Buffer.alloc(12 + 65525 + 100)); // larger than any VSCard message
    expect((await big.browser.closed).code).toBe(RelayClose.MESSAGE_TOO_BIG);
    await until(() => relay.sessions.size === 0, 3000, 'session end');
    await relay.close();
    ({ relay } = await startTestRelay(qemu.port, {
      messageRate: { ratePerSecond: 50, burst: 20 },
    }));
    const flood = await openBrowser();
    const init = encodeMessage(clientInit());
    for (let i = 0; i < 500; i++) flood.browser.send(init);
    expect((await flood.browser.closed).code).toBe(RelayClose.RATE_LIMITED);
    await until(() => relay.sessions.size === 0, 3000, 'session end');
    const fresh = await openBrowser();
    expect(await fresh.request({ type: 'ReaderAdd', readerId: 0, name: '' })).toMatchObject({
      type: 'Error',
      code: 0,
    });
    expect(await fresh.request({ type: 'ATR', readerId: 0, atr: CAC_ATR })).toMatchObject({
      code: 0,
    });
  });

  it('QEMU restart: the relay stays up and serves the new QEMU on the same port', async () => {
    const b = await openBrowser();
    await b.request(clientInit());
    const port = qemu.port;
    await qemu.stop();
    expect((await b.browser.closed).code).toBe(RelayClose.VM_CLOSED);
    qemu = await startQemu({ version, port });
    await until(() => relay.sessions.size === 0, 3000, 'session end');
    const again = await openBrowser();
    expect(await again.request(clientInit())).toMatchObject({ type: 'Init', version: 2 });
    expect(await again.request({ type: 'ReaderAdd', readerId: 0, name: '' })).toMatchObject({
      code: 0,
    });
  });

  it('QEMU stops → the browser gets VM_CLOSED', async () => {
    const b = await openBrowser();
    await b.request(clientInit());
    await qemu.stop();
    const closed = await b.browser.closed;
    expect(closed.code).toBe(RelayClose.VM_CLOSED);
    expect(closed.reason).toMatch(/VM closed/);
  });
});
