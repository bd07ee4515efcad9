import { describe, expect, it } from 'vitest';
import { toHex } from './bytes.ts';
import { ExtendedApduExchange } from './extended-apdu.ts';

const bytes = (n: number, from = 0): Uint8Array =>
  Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);

/** Runs the chaining against scripted DataBlocks; returns what was sent ("level:length") and the response length. */
function run(apduBytes: number, maxMessageLength: number, answers: [number, number][]): string[] {
  const x = new ExtendedApduExchange(bytes(apduBytes), { maxMessageLength });
  const out: string[] = [];
  let step = x.start();
  try {
    for (const [dataBytes, bChainParameter] of answers) {
      if (step.type !== 'send') break;
      out.push(`${step.levelParameter.toString(16).padStart(4, '0')}:${step.data.length}`);
      step = x.onResponse({ data: bytes(dataBytes), bSpecific: bChainParameter });
    }
    out.push(step.type === 'done' ? `done ${step.response.length}` : 'still sending');
  } catch (e) {
    out.push((e as { code: string }).code);
  }
  return out;
}

describe('ExtendedApduExchange (CCID rev 1.1 §6.1.4, §6.2.1; ccid.md §7)', () => {
  const cases: [string, number, number, [number, number][], string[]][] = [
    ['APDU that fits: one XfrBlock 0x0000', 200, 271, [[2, 0]], ['0000:200', 'done 2']],
    ['exactly one message of data', 261, 271, [[2, 0]], ['0000:261', 'done 2']],
    [
      'two parts: 0x0001 then 0x0002',
      262,
      271,
      [
        [0, 0],
        [2, 0],
      ],
      ['0001:261', '0002:1', 'done 2'],
    ],
    [
      'three parts: 0x0001, 0x0003, 0x0002',
      600,
      271,
      [
        [0, 0],
        [0, 0],
        [2, 0],
      ],
      ['0001:261', '0003:261', '0002:78', 'done 2'],
    ],
    [
      'small reader (64): 54-byte parts',
      120,
      64,
      [
        [0, 0],
        [0, 0],
        [2, 0],
      ],
      ['0001:54', '0003:54', '0002:12', 'done 2'],
    ],
    [
      'response chained 01, 03, 02: pulled with empty 0x0010',
      5,
      271,
      [
        [261, 1],
        [261, 3],
        [100, 2],
      ],
      ['0000:5', '0010:0', '0010:0', 'done 622'],
    ],
    [
      'response continued by 0x10',
      5,
      271,
      [
        [10, 0x10],
        [5, 0],
      ],
      ['0000:5', '0010:0', 'done 15'],
    ],
    ['bChainParameter 02 or 00 ends it', 5, 271, [[7, 2]], ['0000:5', 'done 7']],
  ];
  for (const [name, n, max, answers, expected] of cases)
    it(name, () => expect(run(n, max, answers)).toEqual(expected));

  it('a response chain beyond 65538 bytes ⇒ CCID_PROTOCOL', () => {
    const answers: [number, number][] = Array.from({ length: 300 }, () => [261, 3]);
    expect(run(5, 271, answers).at(-1)).toBe('CCID_PROTOCOL');
  });
  it('the response parts are joined in order', () => {
    const x = new ExtendedApduExchange(bytes(4), { maxMessageLength: 271 });
    x.start();
    x.onResponse({ data: bytes(3, 0), bSpecific: 1 });
    const done = x.onResponse({ data: bytes(2, 3), bSpecific: 2 });
    expect(done.type === 'done' && toHex(done.response)).toBe('00 01 02 03 04');
  });
});
