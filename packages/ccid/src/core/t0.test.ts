import { describe, expect, it } from 'vitest';
import { parseApdu, encodeApdu } from './apdu.ts';
import { fromHex, toHex } from './bytes.ts';
import { T0Exchange } from './t0.ts';
import type { T0ExchangeOptions } from './t0.ts';

/** Runs a scripted dialogue: [expected command hex, card answer hex]..., returns the final response. */
function run(apdu: string, mode: T0ExchangeOptions['mode'], script: [string, string][]): string {
  const x = new T0Exchange(fromHex(apdu), { mode });
  let a = x.start();
  for (const [cmd, answer] of script) {
    expect(a.type).toBe('send');
    if (a.type !== 'send') break;
    expect(toHex(a.command)).toBe(toHex(fromHex(cmd)));
    a = x.onResponse(fromHex(answer));
  }
  expect(a.type).toBe('done');
  return a.type === 'done' ? toHex(a.response) : '';
}

/** [name, APDU, mode, dialogue of [command the engine sends, card answer], final response]. */
const dialogues: [string, string, T0ExchangeOptions['mode'], [string, string][], string][] = [
  ['case 1: P3 = 00', '00 A4 04 00', 'tpdu', [['00 A4 04 00 00', '90 00']], '90 00'],
  [
    'case 2: P3 = Le',
    '00 B0 00 00 04',
    'tpdu',
    [['00 B0 00 00 04', '01 02 03 04 90 00']],
    '01 02 03 04 90 00',
  ],
  ['case 3', '00 D6 00 00 02 AA BB', 'tpdu', [['00 D6 00 00 02 AA BB', '90 00']], '90 00'],
  [
    'case 4 sent as case 3, then GET RESPONSE on 61xx',
    '00 A4 04 00 02 3F 00 00',
    'tpdu',
    [
      ['00 A4 04 00 02 3F 00', '61 03'],
      ['00 C0 00 00 03', 'AA BB CC 90 00'],
    ],
    'AA BB CC 90 00',
  ],
  [
    '61xx repeated: data concatenated',
    '00 CA 01 00 00',
    'tpdu',
    [
      ['00 CA 01 00 00', '61 02'],
      ['00 C0 00 00 02', '01 02 61 01'],
      ['00 C0 00 00 01', '03 90 00'],
    ],
    '01 02 03 90 00',
  ],
  [
    '6Cxx: re-issue with P3 = xx',
    '00 B2 01 0C 00',
    'tpdu',
    [
      ['00 B2 01 0C 00', '6C 26'],
      ['00 B2 01 0C 26', '11 22 90 00'],
    ],
    '11 22 90 00',
  ],
  [
    '6Cxx on a case-3 command is data',
    '00 D6 00 00 01 AA',
    'tpdu',
    [['00 D6 00 00 01 AA', '6C 01']],
    '6C 01',
  ],
  [
    'case 4: GET RESPONSE asks min(xx, Le); once Ne bytes are in, 61xx goes to the caller',
    '00 CA 01 00 01 AA 04',
    'tpdu',
    [
      ['00 CA 01 00 01 AA', '61 10'],
      ['00 C0 00 00 04', '01 02 03 04 61 0C'],
    ],
    '01 02 03 04 61 0C',
  ],
  [
    'GET RESPONSE keeps the logical channel bits',
    '03 A4 04 00 01 AA 00',
    'tpdu',
    [
      ['03 A4 04 00 01 AA', '61 01'],
      ['03 C0 00 00 01', '55 90 00'],
    ],
    '55 90 00',
  ],
  [
    'APDU level: sent unchanged, 61xx still handled (ccid.md §16.2)',
    '00 A4 04 00 02 3F 00 00',
    'apdu',
    [
      ['00 A4 04 00 02 3F 00 00', '61 22'],
      ['00 C0 00 00 22', '00'.repeat(0x22) + ' 90 00'],
    ],
    '00'.repeat(0x22) + '90 00',
  ],
];

describe('T=0 over TPDUs (ISO/IEC 7816-3:2006 §12.2)', () => {
  for (const [name, apdu, mode, script, response] of dialogues)
    it(name, () => expect(run(apdu, mode, script)).toBe(toHex(fromHex(response))));
  it('extended Lc > 255 at TPDU level is refused', () => {
    expect(
      () =>
        new T0Exchange(encodeApdu({ cla: 0, ins: 0xd6, p1: 0, p2: 0, data: new Uint8Array(300) }), {
          mode: 'tpdu',
        }),
    ).toThrow(expect.objectContaining({ code: 'CCID_APDU_TOO_LONG' }));
  });
  it('malformed APDU: CCID_BAD_APDU', () => {
    expect(() => new T0Exchange(fromHex('00 A4 04 00 05 01'), { mode: 'tpdu' })).toThrow(
      expect.objectContaining({ code: 'CCID_BAD_APDU' }),
    );
  });
  it('answer without SW: CCID_PROTOCOL', () => {
    const x = new T0Exchange(fromHex('00 A4 04 00'), { mode: 'tpdu' });
    x.start();
    expect(() => x.onResponse(fromHex('90'))).toThrow(
      expect.objectContaining({ code: 'CCID_PROTOCOL' }),
    );
  });
  it('endless 61xx is bounded', () => {
    const x = new T0Exchange(fromHex('00 CA 00 00 00'), { mode: 'tpdu', maxCommands: 5 });
    let a = x.start();
    let n = 0;
    while (a.type === 'send' && n++ < 100) a = x.onResponse(fromHex('61 00'));
    expect(a.type).toBe('done');
    expect(n).toBeLessThanOrEqual(5);
  });
});

describe('APDU parsing (ISO/IEC 7816-4 §5.1)', () => {
  it.each([
    ['00 A4 04 00', 1, 0, 0, false],
    ['00 B0 00 00 00', 2, 0, 256, false],
    ['00 D6 00 00 01 AA', 3, 1, 0, false],
    ['00 A4 04 00 01 AA 00', 4, 1, 256, false],
    ['00 B0 00 00 00 00 00', 2, 0, 65536, true],
    ['00 D6 00 00 00 00 01 AA', 3, 1, 0, true],
    ['00 D6 00 00 00 00 01 AA 01 00', 4, 1, 256, true],
  ])('%s', (hex, kase, lc, ne, isExt) => {
    const a = parseApdu(fromHex(hex));
    expect([a.case, a.data.length, a.ne, a.isExtended]).toEqual([kase, lc, ne, isExt]);
    expect(toHex(encodeApdu(a))).toBe(toHex(fromHex(hex)));
  });
});
