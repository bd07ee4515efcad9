/**
 * Local programs while a card is lent (README "Local programs while a card is lent"): the
 * lent card is held with SCARD_SHARE_EXCLUSIVE, so a second PC/SC client (another process)
 * cannot talk to the card between two guest commands (select another applet, log the PIN out); once lending ends it can use the
 * card again. Real pcscd + vpcd, the PIV demo card.
 */
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it } from 'vitest';
import { createPivDemoCard, PIV_AID } from '@cardlend/card-sim';
import { listReaders, openReader } from '../src/index.ts';
import type { PcscReader, PcscReaderOptions } from '../src/index.ts';
import { startPcscd, waitForCard } from '../test-support/index.ts';
import type { Pcscd, VpcdCard } from '../test-support/index.ts';
import { secondClientTransmit } from './helpers/second-client.ts';

let pcscd: Pcscd;
let card: VpcdCard;
const SELECT_PIV = Uint8Array.of(0x00, 0xa4, 0x04, 0x00, PIV_AID.length, ...PIV_AID, 0x00);
/** The guest's VERIFY of the PIN 123456 (padded with FF to 8 bytes). */
const VERIFY_PIN = Uint8Array.from(Buffer.from('0020008008313233343536ffff', 'hex'));
/** VERIFY without data: 9000 while the PIN is verified, 63Cx when not. */
const PIN_STATUS = Uint8Array.of(0x00, 0x20, 0x00, 0x80, 0x00);
/** What a local program might send meanwhile: SELECT PIV (as its own session) then log the PIN out (P1 = FF). */
const LOCAL_LOGOUT_HEX = '0020ff8000';

beforeAll(async () => {
  pcscd = await startPcscd();
});

afterAll(async () => {
  await pcscd?.stop();
});

beforeEach(async () => {
  card = await pcscd.insertCard(await createPivDemoCard());
  await waitForCard(pcscd.readers[0], 'present');
});

afterEach(async () => {
  await card.remove();
  await waitForCard(pcscd.readers[0], 'absent');
});

const sw = (b: Uint8Array): string => Buffer.from(b.subarray(-2)).toString('hex');

/** Lends the first reader's card as the guest would: open (`opts`), power on, SELECT PIV, VERIFY. */
async function lendAndVerify(opts: PcscReaderOptions = {}): Promise<PcscReader> {
  const reader = await openReader(pcscd.readers[0], opts);
  try {
    await reader.powerOn();
    expect(sw(await reader.transmit(SELECT_PIV))).toBe('9000');
    expect(sw(await reader.transmit(VERIFY_PIN))).toBe('9000');
    return reader;
  } catch (e) {
    await reader.close();
    throw e;
  }
}

describe('local programs while a card is lent', () => {
  it('exclusive (default): a second client is refused with SCARD_E_SHARING_VIOLATION; the guest session is intact', async () => {
    const reader = await lendAndVerify();
    try {
      const other = await secondClientTransmit(pcscd.readers[0], LOCAL_LOGOUT_HEX);
      expect(other).toEqual({ ok: false, code: 'SharingViolation' });
      const [info] = await listReaders();
      expect(info?.isExclusive).toBe(true);
      expect(info?.atrError?.sourceCode).toBe('SCARD_E_SHARING_VIOLATION');
      // The guest's session is intact: its PIN is still verified.
      expect(sw(await reader.transmit(PIN_STATUS))).toBe('9000');
      const commands = card.exchanges.map((x) => Buffer.from(x.command).toString('hex'));
      expect(commands).not.toContain(LOCAL_LOGOUT_HEX);
    } finally {
      await reader.close();
    }
    // Lending over: the card was reset (the guest's PIN verification is gone) and local
    // programs can use it again.
    const after = await secondClientTransmit(pcscd.readers[0], '00a4040009a00000030800001000');
    expect(after).toEqual({ ok: true, response: expect.stringMatching(/9000$/) as unknown });
    expect(await secondClientTransmit(pcscd.readers[0], '0020008000')).toEqual({
      ok: true,
      response: '63c3',
    });
  });

  it("shared (opt-in): a second client's command reaches the card between two guest commands and logs the guest out", async () => {
    const reader = await lendAndVerify({ share: 'shared' });
    try {
      const other = await secondClientTransmit(pcscd.readers[0], LOCAL_LOGOUT_HEX);
      expect(other).toEqual({ ok: true, response: '9000' });
      expect(sw(await reader.transmit(PIN_STATUS))).toBe('63c3'); // the guest was logged out
    } finally {
      await reader.close();
    }
  });
});
