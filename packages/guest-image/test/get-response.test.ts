import { describe, expect, it } from 'vitest';
import { GetResponseSplitter } from '../src/get-response.ts';
import { createTestCard, testPattern, TEST_CARD_AID } from '../src/test-card.ts';

const GET_RESPONSE = (le: number): Uint8Array => Uint8Array.of(0x00, 0xc0, 0x00, 0x00, le);

describe('GetResponseSplitter', () => {
  it('passes answers up to 374 bytes through untouched', () => {
    const s = new GetResponseSplitter();
    const answer = new Uint8Array(374).fill(7);
    expect(s.shape(answer)).toBe(answer);
    expect(s.pendingBytes).toBe(0);
  });

  it('delivers a 1000-byte answer as 256 + 61xx pieces and the final SW (ISO 7816-4 §5.1.3)', () => {
    const s = new GetResponseSplitter();
    const data = testPattern(1000);
    const first = s.shape(Uint8Array.from([...data, 0x90, 0x00]));
    expect(first.length).toBe(258);
    expect([...first.subarray(256)]).toEqual([0x61, 0x00]);
    const pieces = [first.subarray(0, 256)];
    let last = first;
    while (last[last.length - 2] === 0x61) {
      const le = last[last.length - 1] ?? 0;
      const next = s.intercept(GET_RESPONSE(le));
      if (!next) throw new Error('expected a held piece');
      expect(next.length).toBeLessThanOrEqual(258);
      pieces.push(next.subarray(0, next.length - 2));
      last = next;
    }
    expect([...last.subarray(last.length - 2)]).toEqual([0x90, 0x00]);
    expect(Buffer.concat(pieces)).toEqual(Buffer.from(data));
    expect(s.pendingBytes).toBe(0);
  });

  it('keeps a non-9000 final status word', () => {
    const s = new GetResponseSplitter();
    expect([...s.shape(Uint8Array.from([...new Uint8Array(500), 0x62, 0x82])).slice(-2)]).toEqual([
      0x61, 0xf4,
    ]);
    expect(s.intercept(GET_RESPONSE(0xf4))?.slice(-2)).toEqual(Uint8Array.of(0x62, 0x82));
  });

  it('drops held data when the guest sends another command', () => {
    const s = new GetResponseSplitter();
    s.shape(new Uint8Array(600));
    expect(s.intercept(Uint8Array.of(0x80, 0x30, 0x00, 0x00))).toBeNull();
    expect(s.pendingBytes).toBe(0);
    expect(s.intercept(GET_RESPONSE(0))).toBeNull();
  });
});

describe('test card', () => {
  it('answers SELECT, long answers, echo and ping (ISO 7816-4 status words)', async () => {
    const card = createTestCard();
    expect([...(await card.process(Uint8Array.of(0x80, 0x10, 0x00, 0x10, 0x00)))]).toEqual([
      0x69, 0x85,
    ]);
    const select = await card.process(
      Uint8Array.of(0x00, 0xa4, 0x04, 0x00, TEST_CARD_AID.length, ...TEST_CARD_AID),
    );
    expect([...select.slice(-2)]).toEqual([0x90, 0x00]);
    const long = await card.process(Uint8Array.of(0x80, 0x10, 0x03, 0xe8, 0x00));
    expect(long.length).toBe(1002);
    expect(Buffer.from(long.subarray(0, 1000))).toEqual(Buffer.from(testPattern(1000)));
    expect([...(await card.process(Uint8Array.of(0x80, 0x20, 0, 0, 2, 9, 8)))]).toEqual([
      9, 8, 0x90, 0x00,
    ]);
    expect([...(await card.process(Uint8Array.of(0x80, 0x30, 0, 0)))]).toEqual([0x90, 0x00]);
    expect([...(await card.process(Uint8Array.of(0x80, 0x77, 0, 0)))]).toEqual([0x6d, 0x00]);
    expect([...(await card.process(Uint8Array.of(0x00, 0xa4, 0x04, 0x00, 2, 1, 2)))]).toEqual([
      0x6a, 0x82,
    ]);
    expect([...(await card.process(Uint8Array.of(0x00)))]).toEqual([0x67, 0x00]);
  });
});
