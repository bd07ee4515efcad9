/**
 * Resuming a lending session with the relay's default frame policy (the forward guard,
 * session/guard-policy.ts) on real QEMU 7.2 (issue 14 §1 with issue 11): the page lends (Init,
 * ReaderAdd, ATR), its connection is cut without a close frame, a reconnect presenting the
 * resume ticket takes the parked session over and re-announces the reader and card the way the
 * bridge does; the guard accepts every message (no 4015), QEMU answers each, and the card is
 * never removed.
 */
import {
  clientInit,
  decodeMessage,
  encodeMessage,
  parseResumeOffer,
  RELAY_RESUME_CAPABILITY,
  RELAY_SUBPROTOCOL,
  RELAY_TICKET_SUBPROTOCOL_PREFIX,
  RELAY_TOKEN_SUBPROTOCOL_PREFIX,
  type VscardMessage,
} from '@cardlend/vscard';
import { type QemuHandle, startQemu } from '@cardlend/qemu-testbed';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mintToken } from '../src/auth/tokens.ts';
import type { RelayServer } from '../src/server.ts';
import type { ServerEvent } from '../src/server-events.ts';
import { GUARD_POLICY } from '../src/session/guard-policy.ts';
import { Browser, startTestRelay, until, wsUrl } from './helpers.ts';

const CAC_ATR = Uint8Array.from(Buffer.from('3b7a18000073667465206364313434', 'hex'));
const SECRET = new Uint8Array(32).fill(0x6b);
const GRACE_MS = 3000;

/** A resumable page stand-in: the offer arrives as a text frame, VSCard in binary frames. */
class Page {
  #next = 0;
  readonly browser: Browser;
  constructor(browser: Browser) {
    this.browser = browser;
  }
  async ticket(): Promise<string> {
    const frame = await this.browser.frame(this.#next);
    expect(this.browser.frames[this.#next++]?.isBinary).toBe(false);
    const offer = parseResumeOffer(frame.toString('utf8'));
    if (offer === null) throw new Error(`not a resume offer: ${frame.toString('utf8')}`);
    return offer.ticket;
  }
  async request(msg: VscardMessage): Promise<VscardMessage> {
    this.browser.send(encodeMessage(msg, { errorCodeByteOrder: 'le' }));
    return decodeMessage(Uint8Array.from(await this.browser.frame(this.#next++, 5000)));
  }
  /** What the bridge sends on every (re)connect: Init, ReaderAdd, the card's ATR. */
  async announce(): Promise<void> {
    expect(await this.request(clientInit())).toMatchObject({ type: 'Init' });
    expect(await this.request({ type: 'ReaderAdd', readerId: 0, name: '' })).toMatchObject({
      type: 'Error',
      code: 0,
    });
    expect(await this.request({ type: 'ATR', readerId: 0, atr: CAC_ATR })).toMatchObject({
      type: 'Error',
      code: 0,
    });
  }
}

describe('resuming a session with the forward guard on, real QEMU 7.2', () => {
  let qemu: QemuHandle;
  let relay: RelayServer;
  let events: ServerEvent[];
  const browsers: Browser[] = [];

  beforeEach(async () => {
    qemu = await startQemu({ version: '7.2', debug: 2 });
    ({ relay, events } = await startTestRelay(
      qemu.port,
      { tokenSecrets: [SECRET], resumeGraceMs: GRACE_MS },
      { framePolicy: GUARD_POLICY },
    ));
  });

  afterEach(async () => {
    for (const b of browsers.splice(0)) b.ws.terminate();
    await relay.close();
    await qemu.stop();
  });

  async function open(credential: string): Promise<Page> {
    const b = new Browser(wsUrl(relay), [RELAY_SUBPROTOCOL, credential, RELAY_RESUME_CAPABILITY]);
    browsers.push(b);
    await b.opened;
    return new Page(b);
  }

  const refusals = (): ServerEvent[] =>
    events.filter(
      (e) =>
        e.kind === 'session-event' &&
        (e.event.kind === 'frame-refused' || e.event.kind === 'bad-frame'),
    );

  it('a cut page resumes with its ticket, re-announces, and QEMU keeps serving', async () => {
    const token = mintToken({
      secret: SECRET,
      targetId: 'default',
      ttlSeconds: 60,
      nowMs: Date.now(),
    });
    const first = await open(RELAY_TOKEN_SUBPROTOCOL_PREFIX + token);
    const ticket = await first.ticket();
    await first.announce();
    const session = relay.sessions.get('default');
    expect(session).toBeDefined();

    const mark = qemu.output.length;
    first.browser.ws.terminate(); // cut without a close frame: 1006 at the relay
    await until(() => session?.isParked === true, 3000, 'session parked');

    const second = await open(RELAY_TICKET_SUBPROTOCOL_PREFIX + ticket);
    await second.ticket();
    await second.announce();
    expect(relay.sessions.get('default')).toBe(session);
    expect(session?.isParked).toBe(false);
    await qemu.waitForLog(/VSC_ATR/, 3000, mark);

    // The resumed session keeps working through the guard: a card change and back.
    expect(await second.request({ type: 'CardRemove', readerId: 0 })).toMatchObject({ code: 0 });
    expect(await second.request({ type: 'ATR', readerId: 0, atr: CAC_ATR })).toMatchObject({
      code: 0,
    });
    expect(refusals()).toEqual([]);
    expect(second.browser.ws.readyState).toBe(second.browser.ws.OPEN);
    const log = qemu.output.slice(mark).join('\n');
    expect(log).not.toMatch(/CCID Detach/);
  });

  it('resumes a second time after a second cut', async () => {
    const token = mintToken({
      secret: SECRET,
      targetId: 'default',
      ttlSeconds: 60,
      nowMs: Date.now(),
    });
    let page = await open(RELAY_TOKEN_SUBPROTOCOL_PREFIX + token);
    let ticket = await page.ticket();
    await page.announce();
    const session = relay.sessions.get('default');
    for (let round = 0; round < 2; round++) {
      page.browser.ws.terminate();
      await until(() => session?.isParked === true, 3000, 'session parked');
      page = await open(RELAY_TICKET_SUBPROTOCOL_PREFIX + ticket);
      ticket = await page.ticket();
      await page.announce();
    }
    expect(refusals()).toEqual([]);
    expect(relay.sessions.get('default')).toBe(session);
  });
});
