import { describe, expect, it } from 'vitest';
import { parseAtr } from './atr.ts';
import { fromHex } from './bytes.ts';
import { isCcidError } from './errors.ts';

// Real ATRs from shared/docs/vscard-protocol.md §3.1/§4 and ccid.md §16.2.
const cases: {
  name: string;
  hex: string;
  want: Record<string, unknown>;
  t1?: Record<string, unknown>;
}[] = [
  {
    name: 'YubiKey 5 (T=1, TA1 13, IFSC FE)',
    hex: '3BFD1300008131FE158073C021C057597562694B657940',
    want: {
      protocols: [1],
      defaultProtocol: 1,
      ta1: 0x13,
      fi: 372,
      di: 4,
      isTckValid: true,
      tck: 0x40,
      specificMode: undefined,
      extraGuardTime: 0,
    },
    t1: { ifsc: 254, bwi: 1, cwi: 5, edc: 'lrc' },
  },
  {
    name: 'JCOP41',
    hex: '3BF81300008131FE454A434F5076323431B7',
    want: { protocols: [1], defaultProtocol: 1, isTckValid: true, historical: 'JCOPv241' },
    t1: { ifsc: 254, bwi: 4, cwi: 5, edc: 'lrc' },
  },
  {
    name: 'libcacard (TD1 says T=0, no TCK)',
    hex: '3B890056434152445F4E5353',
    want: {
      protocols: [0],
      defaultProtocol: 0,
      tck: undefined,
      isTckValid: true,
      historical: 'VCARD_NSS',
    },
  },
  {
    name: 'libcacard 2 (no TD: implicit T=0, TA1 18)',
    hex: '3B7A18000073667465206364313434',
    want: { protocols: [0], fi: 372, di: 12, tck: undefined, isTckValid: true },
  },
  {
    name: 'Gemalto PIV (TA1 96: Fi 512 Di 32)',
    hex: '3B7D96000080318065B0831117D683009000',
    want: { protocols: [0], fiIndex: 9, diIndex: 6, fi: 512, di: 32, tck: undefined },
  },
  {
    name: 'CAC (T=0 then T=15: TCK present)',
    hex: '3BDB9600801F030031C064B0F3100007900080',
    want: { protocols: [0], defaultProtocol: 0, tck: 0x80, isTckValid: true, t15Ta: 0x03 },
  },
  {
    name: 'EstEID 2018 (T=0, T=1 in TD2, T=15)',
    hex: '3BDB960080B1FE451F830012233F536549440F9000F1',
    want: { protocols: [0, 1], defaultProtocol: 0, isTckValid: true, t15Ta: 0x83 },
    t1: { ifsc: 254, bwi: 4, cwi: 5, edc: 'lrc' },
  },
  {
    name: 'QEMU default ATR (TC1 FF)',
    hex: '3BD518FF8091FE1FC38073C8211308',
    want: {
      protocols: [0, 1],
      defaultProtocol: 0,
      extraGuardTime: 0xff,
      isTckValid: true,
      t15Ta: 0xc3,
    },
    t1: { ifsc: 254, bwi: 4, cwi: 13 },
  },
  {
    name: 'VSCD (T=1 in TD1, no group 3: T=1 defaults)',
    hex: '3B840156534344 87',
    want: { protocols: [1], isTckValid: true, historical: 'VSCD' },
    t1: { ifsc: 32, bwi: 4, cwi: 13, edc: 'lrc' },
  },
  {
    name: 'EMV card from the capture',
    hex: '3B65000020 63CBBC00',
    want: { protocols: [0], ta1: 0x11, fi: 372, di: 1, tck: undefined },
  },
  {
    name: 'YubiKey as implicit T=0',
    hex: '3B0D8073C021C057597562694B6579',
    want: { protocols: [0], groups: [{}], tck: undefined },
  },
  {
    name: 'specific mode TA2 = T=1',
    hex: '3B 90 96 10 01',
    want: {
      defaultProtocol: 1,
      specificMode: { protocol: 1, canChange: true, isImplicit: false },
      protocols: [0],
    },
  },
  {
    name: 'specific mode, implicit parameters',
    hex: '3B 90 96 10 91',
    want: { specificMode: { protocol: 1, canChange: false, isImplicit: true } },
  },
  {
    name: 'inverse convention, CRC T=1',
    hex: '3F 80 81 71 20 45 01 00',
    want: { convention: 'inverse', protocols: [1] },
    t1: { ifsc: 0x20, bwi: 4, cwi: 5, edc: 'crc' },
  },
];

describe('parseAtr (ISO/IEC 7816-3:2006 §8)', () => {
  for (const c of cases) {
    it(c.name, () => {
      const bytes = fromHex(c.hex);
      if (c.name.startsWith('inverse')) {
        // fix up the TCK of the hand-made ATR
        let x = 0;
        for (let i = 1; i < bytes.length - 1; i++) x ^= bytes[i]!;
        bytes[bytes.length - 1] = x;
      }
      const a = parseAtr(bytes);
      const { historical, ...rest } = c.want;
      expect(a).toMatchObject(rest);
      if (historical !== undefined) expect(new TextDecoder().decode(a.historical)).toBe(historical);
      if (c.t1) expect(a.t1).toMatchObject(c.t1);
    });
  }

  it('reports a bad TCK without throwing', () => {
    const a = parseAtr(fromHex('3B8401565343 4488'));
    expect(a.isTckValid).toBe(false);
    expect(a.protocols).toEqual([1]);
  });

  it('reports a missing TCK when T=1 is offered', () => {
    expect(parseAtr(fromHex('3B84015653 4344')).isTckValid).toBe(false);
  });

  for (const [name, hex] of [
    ['bad TS', '3C 00'],
    ['only TS', '3B'],
    ['truncated interface bytes', '3B 80'],
    ['truncated TD chain', '3B 80 81'],
    ['truncated historical bytes', '3B 05 01 02'],
    ['bytes after TCK', '3B 80 01 81 00'],
    ['too long', '3B 0F' + '00'.repeat(15) + '00'.repeat(17)],
  ] as const) {
    it(`throws CCID_BAD_ATR: ${name}`, () => {
      try {
        parseAtr(fromHex(hex));
        expect.unreachable();
      } catch (e) {
        expect(isCcidError(e) && e.code).toBe('CCID_BAD_ATR');
      }
    });
  }
});
