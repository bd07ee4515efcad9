import { describe, expect, it } from 'vitest';
import { answer } from '../../test/core-fixtures.ts';
import { toHex } from './bytes.ts';
import {
  assertXfrBlockFits,
  slotStatusOf,
  t1BlockResult,
  t1BlockXfr,
  xfrBlockError,
} from './reader-errors.ts';

const failed = (bError: number, iccStatus = 0) =>
  answer('DataBlock', { commandStatus: 1, bError, iccStatus });

describe('reader-error mapping (ccid.md §6.2)', () => {
  it.each([
    ['no card (bmICCStatus 2)', failed(0xfe, 2), 'CCID_CARD_ABSENT'],
    ['card mute', failed(0xfe), 'CCID_CARD_MUTE'],
    ['hardware error', failed(0xfb), 'CCID_HARDWARE_ERROR'],
    ['slot busy', failed(0xe0), 'CCID_BUSY'],
    ['parity error', failed(0xfd), 'CCID_COMMAND_FAILED'],
    ['bad parameter offset', failed(0x05), 'CCID_COMMAND_FAILED'],
  ])('XfrBlock failure: %s ⇒ %s', (_name, r, code) => {
    const e = xfrBlockError(r, 3);
    expect(e.code).toBe(code);
    expect(e.bError).toBe(r.bError);
  });

  it.each([
    ['block', answer('DataBlock', { data: Uint8Array.of(0, 0x40, 0) }), 'block 00 40 00'],
    ['BWT expired (ICC_MUTE, card present)', failed(0xfe), 'error timeout'],
    ['parity error', failed(0xfd), 'error parity'],
    ['card pulled', failed(0xfe, 2), 'fail CCID_CARD_ABSENT'],
    ['hardware error', failed(0xfb), 'fail CCID_HARDWARE_ERROR'],
  ])('T=1 block answer: %s', (_name, r, expected) => {
    const x = t1BlockResult(r, 0);
    const shown =
      x.type === 'block'
        ? `block ${toHex(x.data)}`
        : x.type === 'error'
          ? `error ${x.kind}`
          : `fail ${x.error.code}`;
    expect(shown).toBe(expected);
  });

  it.each([
    [0, 0, 1],
    [1, 0, 1],
    [2, 2, 2],
    [300, 255, 300],
  ])('S(WTX) %i ⇒ bBWI %i, timeout × %i', (wtx, bwi, timeoutScale) =>
    expect(t1BlockXfr(wtx)).toEqual({ bwi, timeoutScale }),
  );

  it.each([
    [0, 'active'],
    [1, 'inactive'],
    [2, 'absent'],
  ] as const)('bmICCStatus %i ⇒ %s', (iccStatus, status) =>
    expect(slotStatusOf({ iccStatus })).toBe(status),
  );

  it('XfrBlock limits: dwMaxCCIDMessageLength - 10, libccid SCM 263 quirk for T=0/short APDUs', () => {
    expect(() => assertXfrBlockFits(261, 271, 'other')).not.toThrow();
    expect(() => assertXfrBlockFits(262, 271, 'other')).toThrow(
      expect.objectContaining({ code: 'CCID_APDU_TOO_LONG' }),
    );
    expect(() => assertXfrBlockFits(261, 263, 't0-tpdu-or-short-apdu')).not.toThrow();
    expect(() => assertXfrBlockFits(254, 263, 'other')).toThrow(
      expect.objectContaining({ code: 'CCID_APDU_TOO_LONG' }),
    );
  });
});
