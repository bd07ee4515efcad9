import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildCommandApdu } from '@cardlend/card-sim';
import { describeApdu, isSensitiveApdu } from '../src/apdu-describe.ts';

const h = (hex: string): Uint8Array =>
  Uint8Array.from(hex.replace(/\s+/g, '').match(/../g) ?? [], (x) => parseInt(x, 16));

describe('describeApdu', () => {
  it.each([
    ['00 A4 04 00 09 A0 00 00 03 08 00 00 10 00 00', 'SELECT', 9, 256, 4, false], // PIV SELECT with Le 00
    ['00 A4 04 00 05 A0 00 00 03 08', 'SELECT', 5, null, 3, false],
    ['00 20 00 80 08 31 32 33 34 35 36 FF FF', 'VERIFY', 8, null, 3, false],
    ['00 20 00 80', 'VERIFY', 0, null, 1, false], // PIN status query, no data
    ['00 CB 3F FF 05 5C 03 5F C1 05 00', 'GET DATA', 5, 256, 4, false],
    ['00 C0 00 00 10', 'GET RESPONSE', 0, 16, 2, false],
    ['00 B0 00 00 00', 'READ BINARY', 0, 256, 2, false],
    ['00 87 07 9A 04 7C 02 81 00 00', 'GENERAL AUTHENTICATE', 4, 256, 4, false],
    [
      '00 24 00 80 10 31 32 33 34 35 36 FF FF 31 32 33 34 35 36 FF FF',
      'CHANGE REFERENCE DATA',
      16,
      null,
      3,
      false,
    ],
    [
      '00 2C 00 80 10 31 32 33 34 35 36 37 38 31 32 33 34 35 36 FF FF',
      'RESET RETRY COUNTER',
      16,
      null,
      3,
      false,
    ],
    ['00 DB 3F FF 03 5C 01 7E', 'PUT DATA', 3, null, 3, false],
    ['00 88 00 00 02 01 02 00', 'INTERNAL AUTHENTICATE', 2, 256, 4, false],
    ['00 22 41 B6 03 84 01 01', 'MANAGE SECURITY ENVIRONMENT', 3, null, 3, false],
    ['00 2A 9E 9A 03 01 02 03 00', 'PSO', 3, 256, 4, false],
    ['00 84 00 00 08', 'GET CHALLENGE', 0, 8, 2, false],
    ['00 C2 00 00 02 AA BB', 'ENVELOPE', 2, null, 3, false],
    ['00 B0 00 00 00 00 00', 'READ BINARY', 0, 65536, 2, true],
    ['00 B0 00 00 00 01 00', 'READ BINARY', 0, 256, 2, true],
    ['00 DB 3F FF 00 00 02 AA BB', 'PUT DATA', 2, null, 3, true],
    ['00 87 07 9A 00 00 02 AA BB 00 00', 'GENERAL AUTHENTICATE', 2, 65536, 4, true],
  ])('%s → %s', (hex, name, lc, le, caseNumber, isExtended) => {
    const d = describeApdu(h(hex));
    expect(d).toMatchObject({ name, lc, le, case: { number: caseNumber, isExtended } });
  });

  it('marks PIN-carrying commands sensitive, whatever the class byte', () => {
    for (const hex of [
      '00 20 00 80 08 31 32 33 34 35 36 FF FF', // VERIFY
      '0C 20 00 81 04 31 32 33 34', // VERIFY, secure messaging class
      '80 20 00 00 04 31 32 33 34', // proprietary class
      '00 24 00 80 10 3132333435363738 3132333435363738', // CHANGE REFERENCE DATA
      '00 2C 00 80 10 3132333435363738 3132333435363738', // RESET RETRY COUNTER
      '00 26 00 80 04 31 32 33 34', // DISABLE VERIFICATION REQUIREMENT
      '00 28 00 80 04 31 32 33 34', // ENABLE VERIFICATION REQUIREMENT
      '00 DA 00 D3 08 3132333435363738', // OpenPGP resetting code
      '00 FF FF FF 1B 03 9B 18 0102030405060708 0102030405060708 0102030405060708', // YubiKey SET MANAGEMENT KEY
    ]) {
      expect(isSensitiveApdu(h(hex)), hex).toBe(true);
    }
    for (const hex of [
      '00 A4 04 00 02 3F 00',
      '00 CB 3F FF 05 5C 03 5F C1 05 00',
      '00 DA 00 5E 02 41 42',
    ]) {
      expect(isSensitiveApdu(h(hex)), hex).toBe(false);
    }
  });

  it('names unknown instructions by their hex code and flags proprietary classes', () => {
    expect(describeApdu(h('80 50 00 00 08 0102030405060708 00'))).toMatchObject({
      name: 'INS 50',
      isProprietaryClass: true,
    });
    expect(describeApdu(h('FF CA 00 00 00'))).toMatchObject({
      name: 'GET DATA',
      isProprietaryClass: false,
    });
  });

  it('reports malformed input instead of throwing', () => {
    expect(describeApdu(new Uint8Array(0))).toMatchObject({
      name: 'MALFORMED',
      lc: 0,
      le: null,
      case: null,
    });
    expect(describeApdu(h('00 A4 04'))).toMatchObject({ name: 'MALFORMED' });
    expect(describeApdu(h('00 A4 04 00 09 A0 00'))).toMatchObject({
      name: 'SELECT',
      case: null,
      lc: 2,
    });
  });

  it('is total over arbitrary bytes, with lengths bounded by the input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const d = describeApdu(bytes);
        expect(typeof d.name).toBe('string');
        expect(d.lc).toBeGreaterThanOrEqual(0);
        expect(d.lc).toBeLessThanOrEqual(Math.max(0, bytes.length));
        if (d.le !== null) expect(d.le).toBeLessThanOrEqual(65536);
      }),
      { numRuns: 500 },
    );
  });

  it('reads back the lengths of well-formed APDUs of every case', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.uint8Array({ maxLength: 400 }),
        fc.option(fc.integer({ min: 1, max: 65536 }), { nil: null }),
        ([cla = 0, ins = 0, p1 = 0, p2 = 0], data, ne) => {
          // Encoded by the card simulator's own builder (shortest form that fits).
          const cmd = buildCommandApdu({ cla, ins, p1, p2, data, ne });
          const d = describeApdu(cmd);
          expect(d.lc).toBe(data.length);
          expect(d.le).toBe(ne);
        },
      ),
      { numRuns: 500 },
    );
  });
});
