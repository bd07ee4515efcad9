/**
 * A reader failure's PC/SC code reaches the page: `toRefusal` keeps a PcscError's `sourceCode`
 * as the refusal's source (and drops anything that is no PC/SC code name), and the helper sends
 * it as the `error`'s `source` next to its reader or helper code.
 */
import { describe, expect, it } from 'vitest';
import { PcscError } from '@cardlend/pcsc';
import { HubRefusal, toRefusal } from '../../src/serve/reader-hub.ts';
import { fixturePerTest, PAGE, RawClient, READER_B } from './serve-fixture.ts';

const startFixture = fixturePerTest();

describe('toRefusal', () => {
  it.each([
    ['SCARD_E_SHARING_VIOLATION', 'CCID_DEVICE_BUSY'],
    ['SCARD_W_REMOVED_CARD', 'CCID_CARD_ABSENT'],
    ['SCARD_E_NO_SERVICE', 'HELPER_NO_SERVICE'],
    ['SCARD_E_SERVICE_STOPPED', 'HELPER_NO_SERVICE'],
    ['SCARD_E_UNKNOWN_READER', 'HELPER_UNKNOWN_READER'],
  ] as const)('keeps %s under %s', (sourceCode, code) => {
    const r = toRefusal(new PcscError(sourceCode, 'SCardConnect failed'));
    expect(r).toMatchObject({ code, source: { kind: 'pcsc', code: sourceCode } });
    expect(r.message).toContain(sourceCode);
  });

  it('gives no source without a PC/SC code name', () => {
    expect(toRefusal({ code: 'CCID_DEVICE_BUSY' }).source).toBeUndefined();
    expect(toRefusal({ code: 'CCID_TIMEOUT', sourceCode: 'ETIMEDOUT' })).toMatchObject({
      code: 'CCID_TIMEOUT',
      source: undefined,
    });
    expect(toRefusal({ code: 'CCID_TIMEOUT', sourceCode: 'SCARD_E_<b>' }).source).toBeUndefined();
    expect(toRefusal(new Error('boom'))).toMatchObject({
      code: 'HELPER_INTERNAL',
      source: undefined,
    });
    const own = new HubRefusal('HELPER_NOT_CONNECTED', 'connect first');
    expect(toRefusal(own)).toBe(own);
  });
});

it('sends the PC/SC code as the error’s source', async () => {
  const fx = await startFixture({ approved: [PAGE] });
  const gone = fx.slots.find((s) => s.name === READER_B)!;
  gone.isGone = true; // the service fails the open with SCARD_E_UNKNOWN_READER, as PC/SC does
  const page = new RawClient(fx.server.port, { origin: PAGE });
  const answer = await page.request({ type: 'connect', reader: READER_B });
  expect(answer).toEqual({
    type: 'error',
    id: 1,
    code: 'HELPER_UNKNOWN_READER',
    message: 'CCID_READER_GONE',
    source: { kind: 'pcsc', code: 'SCARD_E_UNKNOWN_READER' },
  });
  page.ws.close();
});
