/** toHex: upper-case hex without separators, every byte value, any length and offset. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex } from '../src/apdu-log.ts';

/** The plain definition, one byte at a time. */
const reference = (bytes: Uint8Array): string =>
  [...bytes].map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join('');

describe('toHex', () => {
  it('writes every byte value as two upper-case digits', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(toHex(all)).toBe(reference(all));
    expect(toHex(Uint8Array.of(0x00, 0x0a, 0xa0, 0xff))).toBe('000AA0FF');
    expect(toHex(new Uint8Array(0))).toBe('');
  });

  it('matches the plain definition on random bytes, also on views into a larger buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(20), (bytes, cut) => {
        expect(toHex(bytes)).toBe(reference(bytes));
        const view = bytes.subarray(Math.min(cut, bytes.length));
        expect(toHex(view)).toBe(reference(view));
      }),
      { seed: 12, numRuns: 300 },
    );
  });
});
