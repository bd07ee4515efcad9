import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { utf8Decode, utf8Encode } from '../src/utf8.ts';
import { hex, toHex } from './vectors.ts';

describe('utf8', () => {
  it('encodes like TextEncoder, lone surrogates included (property)', () => {
    const te = new TextEncoder();
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
        expect(toHex(utf8Encode(s))).toBe(toHex(te.encode(s)));
      }),
      { numRuns: 300 },
    );
  });

  it('decodes well-formed UTF-8 like TextDecoder (property)', () => {
    const td = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (b) => {
        let expected: string | undefined;
        try {
          expected = td.decode(b);
        } catch {
          expected = undefined;
        }
        expect(utf8Decode(b)).toBe(expected);
      }),
      { numRuns: 1000 },
    );
  });

  it('rejects overlongs, surrogates, out-of-range and truncated sequences', () => {
    for (const h of ['c080', 'eda080', 'f4908080', 'e282', 'ff', '80']) {
      expect(utf8Decode(hex(h)), h).toBeUndefined();
    }
    expect(utf8Decode(hex('f09f92b3'))).toBe('\u{1f4b3}');
  });
});
