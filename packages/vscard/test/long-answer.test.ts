import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { commandNe, getResponseNe, LongAnswerSplitter } from '../src/long-answer.ts';

const GET_RESPONSE = (le: number): Uint8Array =>
  Uint8Array.from([0x00, 0xc0, 0x00, 0x00, le & 0xff]);
const answerOf = (dataLength: number, sw = 0x9000): Uint8Array => {
  const a = new Uint8Array(dataLength + 2);
  for (let i = 0; i < dataLength; i++) a[i] = (i * 7) & 0xff;
  a[dataLength] = sw >> 8;
  a[dataLength + 1] = sw & 0xff;
  return a;
};
const sw = (a: Uint8Array): number => ((a[a.length - 2] ?? 0) << 8) | (a[a.length - 1] ?? 0);

/** Plays the guest: collects a whole answer through 61xx / GET RESPONSE (Le = xx). */
function collect(
  s: LongAnswerSplitter,
  first: Uint8Array,
): { data: number[]; sw: number; pieces: number } {
  const data: number[] = [];
  let piece = first;
  let pieces = 1;
  for (;;) {
    expect(piece.length).toBeLessThanOrEqual(374);
    data.push(...piece.subarray(0, piece.length - 2));
    // Done when the buffer is empty: a final 61xx then is the card's own status word.
    if (piece[piece.length - 2] !== 0x61 || s.bufferedBytes === 0)
      return { data, sw: sw(piece), pieces };
    const d = s.handleCommand(GET_RESPONSE(piece[piece.length - 1] ?? 0));
    if (d.kind !== 'serve') throw new Error('GET RESPONSE not served from the buffer');
    piece = d.answer;
    pieces++;
  }
}

describe('LongAnswerSplitter', () => {
  it('passes answers up to 374 bytes through unchanged and serves nothing', () => {
    const s = new LongAnswerSplitter();
    const a = answerOf(372);
    expect(s.handleAnswer(a)).toBe(a);
    expect(s.bufferedBytes).toBe(0);
    expect(s.handleCommand(GET_RESPONSE(0))).toEqual({ kind: 'forward' });
  });

  it('splits a 375-byte answer into 256 + 61xx, then the rest with the real status word', () => {
    const s = new LongAnswerSplitter();
    const a = answerOf(373, 0x9000);
    const first = s.handleAnswer(a);
    expect(first.length).toBe(258);
    expect([...first.subarray(256)]).toEqual([0x61, 117]);
    expect(s.bufferedBytes).toBe(117);
    const d = s.handleCommand(GET_RESPONSE(117));
    expect(d.kind).toBe('serve');
    if (d.kind !== 'serve') return;
    expect(d.answer.length).toBe(119);
    expect(sw(d.answer)).toBe(0x9000);
    expect([...first.subarray(0, 256), ...d.answer.subarray(0, 117)]).toEqual([
      ...a.subarray(0, 373),
    ]);
    expect(s.bufferedBytes).toBe(0);
  });

  it('announces 6100 while 256 or more bytes remain and keeps a warning status word for the end', () => {
    const s = new LongAnswerSplitter();
    const a = answerOf(1000, 0x6282);
    const first = s.handleAnswer(a);
    expect([...first.subarray(256)]).toEqual([0x61, 0x00]);
    const r = collect(s, first);
    expect(r.data).toEqual([...a.subarray(0, 1000)]);
    expect(r.sw).toBe(0x6282);
    expect(r.pieces).toBe(4); // 256 + 256 + 256 + 232
  });

  it('serves a smaller Le than announced and keeps the rest', () => {
    const s = new LongAnswerSplitter();
    s.handleAnswer(answerOf(400));
    const d = s.handleCommand(GET_RESPONSE(10));
    if (d.kind !== 'serve') throw new Error('expected serve');
    expect(d.answer.length).toBe(12);
    expect([...d.answer.subarray(10)]).toEqual([0x61, 134]);
  });

  it('discards the buffer on any other command', () => {
    const s = new LongAnswerSplitter();
    s.handleAnswer(answerOf(600));
    expect(s.handleCommand(Uint8Array.from([0x00, 0xa4, 0x04, 0x00, 0x01, 0xa0]))).toEqual({
      kind: 'forward',
    });
    expect(s.bufferedBytes).toBe(0);
    expect(s.handleCommand(GET_RESPONSE(0))).toEqual({ kind: 'forward' });
  });

  it('collects any long answer exactly, every piece within the limit', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4000 }),
        fc.integer({ min: 0, max: 0xffff }),
        (n, status) => {
          const s = new LongAnswerSplitter();
          const a = answerOf(n, status);
          const first = s.handleAnswer(a);
          if (a.length <= 374) {
            expect(first).toBe(a); // passes through unchanged, whatever its status word
            return;
          }
          const r = collect(s, first);
          expect(r.data).toEqual([...a.subarray(0, n)]);
          expect(r.sw).toBe(status);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('rejects nonsense limits', () => {
    expect(() => new LongAnswerSplitter({ maxAnswerBytes: 2 })).toThrow(RangeError);
    expect(() => new LongAnswerSplitter({ chunkBytes: 300 })).toThrow(RangeError);
  });
});

describe('getResponseNe', () => {
  it.each([
    ['00C0000010', 16],
    ['00C0000000', 256],
    ['00C00000', 256],
    ['01C0000020', 32],
    ['00C0000000 0000', 65536],
    ['80C0000010', null],
    ['00C0010010', null],
    ['00B0000010', null],
    ['00C0', null],
  ])('%s → %s', (hex, ne) => {
    const bytes = Uint8Array.from(hex.replace(/\s+/g, '').match(/../g) ?? [], (x) =>
      parseInt(x, 16),
    );
    expect(getResponseNe(bytes)).toBe(ne);
  });
});

describe('commandNe', () => {
  const h = (x: string): Uint8Array => Uint8Array.from(Buffer.from(x, 'hex'));
  const cases: [string, string, number][] = [
    ['case 1', '00a40400', 256],
    ['case 2, Le 10', '00b0000010', 16],
    ['case 2, Le 00', '00b0000000', 256],
    ['case 3 (SELECT without Le)', '00a4040002a0b0', 256],
    ['case 4, Le 80', '00cb3fff055c035fc10580', 128],
    ['case 4, Le 00', '00cb3fff055c035fc10500', 256],
    ['case 2E, Le 0800', '00b00000000800', 2048],
    ['case 2E, Le 0000', '00b00000000000', 65536],
    ['case 4E, Le 0100', '00cb3fff000003aabbcc0100', 256],
    ['malformed', '00cb3fff05aabb', 256],
  ];
  for (const [name, cmd, ne] of cases)
    it(`${name} → ${ne}`, () => expect(commandNe(h(cmd))).toBe(ne));
});
