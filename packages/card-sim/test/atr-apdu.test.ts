import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildCommandApdu, parseCommandApdu } from '../src/apdu.ts';
import { buildAtr, parseSimAtr } from '../src/atr.ts';
import { bytesToHex, hexToBytes } from '../src/bytes.ts';
import { isCardSimError } from '../src/errors.ts';

describe('ATR', () => {
  it('builds the usual shapes', () => {
    expect(bytesToHex(buildAtr({ protocols: [0], historical: hexToBytes('0102') }))).toBe(
      '3b020102',
    );
    const dual = buildAtr({ protocols: [0, 1], historical: hexToBytes('41') });
    expect(bytesToHex(dual).slice(0, 8)).toBe('3b818001');
    expect(parseSimAtr(dual).protocols).toEqual([0, 1]);
    const t1 = parseSimAtr(buildAtr({ protocols: [1], ifsc: 0xfe, edc: 'crc', ta1: 0x96 }));
    expect(t1).toMatchObject({
      protocols: [1],
      ifsc: 0xfe,
      edc: 'crc',
      ta1: 0x96,
      specificProtocol: null,
    });
    expect(parseSimAtr(buildAtr({ protocols: [1], specificMode: true })).specificProtocol).toBe(1);
  });

  it('round-trips the T=1 parameters for any combination', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<(0 | 1)[]>([0], [1], [0, 1], [1, 0]),
        fc.integer({ min: 1, max: 254 }),
        fc.constantFrom<'lrc' | 'crc'>('lrc', 'crc'),
        fc.uint8Array({ maxLength: 15 }),
        (protocols, ifsc, edc, historical) => {
          const info = parseSimAtr(buildAtr({ protocols, ifsc, edc, historical }));
          expect(info.protocols).toEqual(protocols);
          expect(bytesToHex(info.historical)).toBe(bytesToHex(historical));
          if (protocols.includes(1)) expect([info.ifsc, info.edc]).toEqual([ifsc, edc]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('rejects bad TS, bad TCK, truncation with CardSimError', () => {
    for (const bad of ['3c00', '3b818001ff00', '3b8180']) {
      try {
        parseSimAtr(hexToBytes(bad));
        expect.unreachable();
      } catch (e) {
        expect(isCardSimError(e)).toBe(true);
      }
    }
  });
});

describe('command APDU', () => {
  it('parses all cases, short and extended', () => {
    expect(parseCommandApdu(hexToBytes('00A40400'))).toMatchObject({ case: 1, ne: null });
    expect(parseCommandApdu(hexToBytes('00B0000000'))).toMatchObject({ case: 2, ne: 256 });
    expect(parseCommandApdu(hexToBytes('0020008002AABB'))).toMatchObject({ case: 3, ne: null });
    expect(parseCommandApdu(hexToBytes('0020008002AABB10'))).toMatchObject({ case: 4, ne: 16 });
    expect(parseCommandApdu(hexToBytes('00B00000000000'))).toMatchObject({
      case: 2,
      ne: 65536,
      isExtended: true,
    });
    expect(parseCommandApdu(hexToBytes('0020008003AABB'))).toBeNull();
    expect(parseCommandApdu(hexToBytes('0020008002AABBCCDD'))).toBeNull();
  });

  it('build ∘ parse is the identity', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600 }),
        fc.option(fc.integer({ min: 1, max: 65536 }), { nil: null }),
        (data, ne) => {
          const apdu = buildCommandApdu({ cla: 0x80, ins: 0x30, p1: 1, p2: 2, data, ne });
          const cmd = parseCommandApdu(apdu)!;
          expect(bytesToHex(cmd.data)).toBe(bytesToHex(data));
          expect(cmd.ne).toBe(ne);
        },
      ),
      { numRuns: 200 },
    );
  });
});
