import { describe, expect, it } from 'vitest';
import { ChainCollector, MAX_CHAIN_LINKS, MAX_COLLECTED_BYTES } from '../src/chain-collector.ts';

const hex = (b: Uint8Array | null): string | null =>
  b && Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const bytes = (h: string): Uint8Array =>
  Uint8Array.from(h.match(/../g) ?? [], (x) => Number.parseInt(x, 16));

/** Feeds `answers` as the card's replies; the GET RESPONSEs asked for and the whole answer. */
function play(command: string, isCollecting: boolean, answers: Uint8Array[]) {
  const chain = new ChainCollector(bytes(command), isCollecting);
  const asked = answers.map((a) => hex(chain.add(a)));
  return { asked, whole: hex(chain.answer()) };
}

describe('ChainCollector', () => {
  it.each([
    {
      name: 'collects 61xx pieces with GET RESPONSE on the command channel, SW of the last',
      command: '81cb3fff035c017e00',
      isCollecting: true,
      answers: ['aabb6103', 'ccddee9000'],
      asked: ['01c0000003', null],
      whole: 'aabbccddee9000',
    },
    {
      name: 'not collecting: the first answer is the answer',
      command: '00cb3fff00',
      isCollecting: false,
      answers: ['aabb6103'],
      asked: [null],
      whole: 'aabb6103',
    },
    {
      name: 'an answer that is not 61xx ends at once',
      command: '00b0000000',
      isCollecting: true,
      answers: ['aa6a82'],
      asked: [null],
      whole: 'aa6a82',
    },
    {
      name: 'an answer shorter than a status word ends at once',
      command: '00b0000000',
      isCollecting: true,
      answers: ['61'],
      asked: [null],
      whole: '61',
    },
  ])('$name', ({ command, isCollecting, answers, asked, whole }) => {
    expect(play(command, isCollecting, answers.map(bytes))).toEqual({ asked, whole });
  });

  it(`stops after ${MAX_CHAIN_LINKS} links of a card answering 6100 without data`, () => {
    const chain = new ChainCollector(bytes('00b0000000'), true);
    for (let i = 0; i < MAX_CHAIN_LINKS; i++) expect(chain.add(bytes('6100'))).not.toBeNull();
    expect(chain.add(bytes('6100'))).toBeNull();
    expect(hex(chain.answer())).toBe('6100');
  });

  it('stops once one VSCard message of data is collected', () => {
    const chain = new ChainCollector(bytes('00b0000000'), true);
    const piece = new Uint8Array(MAX_COLLECTED_BYTES + 2).fill(7);
    piece.set([0x61, 0x00], MAX_COLLECTED_BYTES);
    expect(chain.add(piece)).not.toBeNull();
    const last = bytes('016100');
    expect(chain.add(last)).toBeNull();
    const whole = chain.answer();
    expect(whole.length).toBe(MAX_COLLECTED_BYTES + last.length);
    expect(hex(whole.subarray(MAX_COLLECTED_BYTES))).toBe('016100');
  });

  it('without a chain, the answer is the card answer itself; collectors share no state', () => {
    const none = new ChainCollector(bytes('00b0000000'), true);
    expect(none.answer()).toHaveLength(0);
    const chained = new ChainCollector(bytes('00b0000000'), true);
    const single = new ChainCollector(bytes('00a4040000'), true);
    const card = bytes('aabb6102'); // a card reusing one buffer for its answers
    expect(chained.add(card)).not.toBeNull();
    card.set(bytes('ccdd9000'));
    expect(chained.add(card)).toBeNull();
    const own = bytes('9000');
    expect(single.add(own)).toBeNull();
    expect(single.answer()).toBe(own);
    expect(hex(chained.answer())).toBe('aabbccdd9000');
    expect(none.answer()).toHaveLength(0);
  });
});
