import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeRelayNotice, parseRelayNotice, parseResumeOffer } from '../src/index.ts';

describe('relay notices', () => {
  it('round-trip, and are not resume offers', () => {
    const n = {
      code: 'nagle-suspected',
      message: 'adds about 42 ms per command',
      typicalStallMs: 41.7,
    };
    const text = encodeRelayNotice(n);
    expect(parseRelayNotice(text)).toEqual(n);
    expect(parseResumeOffer(text)).toBeNull();
  });

  const bad: [string, string][] = [
    ['not JSON', 'nagle'],
    ['another type', '{"type":"resume","ticket":"r1.AAAAAAAAAAAAAAAAAAAAAA","graceMs":1}'],
    ['no code', '{"type":"notice","message":"m"}'],
    ['a code with spaces', '{"type":"notice","code":"a b","message":"m"}'],
    ['no message', '{"type":"notice","code":"x"}'],
    ['null', 'null'],
  ];
  for (const [name, text] of bad)
    it(`${name} → null`, () => expect(parseRelayNotice(text)).toBeNull());

  it('never throws on any text', () => {
    fc.assert(fc.property(fc.string(), (s) => void parseRelayNotice(s)));
  });
});
