import { describe, expect, it } from 'vitest';
import {
  isRelaySubprotocol,
  RELAY_SUBPROTOCOL,
  RELAY_SUBPROTOCOL_LONG_ANSWERS,
  relaySplitsLongAnswers,
  relaySubprotocols,
  selectRelaySubprotocol,
} from '../src/relay-contract.ts';

describe('relay subprotocol negotiation (long answers, issue 11 §3)', () => {
  it.each([
    {
      page: 'with a token and long answers',
      offered: relaySubprotocols('tok', { longAnswers: true }),
      expected: [RELAY_SUBPROTOCOL_LONG_ANSWERS, RELAY_SUBPROTOCOL, 'cardlend.token.tok'],
    },
    { page: 'with nothing', offered: relaySubprotocols(), expected: [RELAY_SUBPROTOCOL] },
    {
      page: 'with an empty token and long answers',
      offered: relaySubprotocols('', { longAnswers: true }),
      expected: [RELAY_SUBPROTOCOL_LONG_ANSWERS, RELAY_SUBPROTOCOL],
    },
  ])('a page $page offers long answers first, then v1, then its token', ({ offered, expected }) => {
    expect(offered).toEqual(expected);
  });

  const cases: { offered: string[]; selected: string | false; relaySplits: boolean }[] = [
    {
      offered: relaySubprotocols('t', { longAnswers: true }),
      selected: RELAY_SUBPROTOCOL_LONG_ANSWERS,
      relaySplits: true,
    },
    { offered: relaySubprotocols('t'), selected: RELAY_SUBPROTOCOL, relaySplits: false },
    {
      offered: [RELAY_SUBPROTOCOL, RELAY_SUBPROTOCOL_LONG_ANSWERS],
      selected: RELAY_SUBPROTOCOL_LONG_ANSWERS,
      relaySplits: true,
    },
    { offered: ['chat', 'cardlend.token.t'], selected: false, relaySplits: false },
  ];
  for (const c of cases) {
    it(`offered ${c.offered.join(', ')} → ${String(c.selected)}`, () => {
      const selected = selectRelaySubprotocol(new Set(c.offered));
      expect(selected).toBe(c.selected);
      if (selected !== false) {
        expect(isRelaySubprotocol(selected)).toBe(true);
        expect(relaySplitsLongAnswers(selected)).toBe(c.relaySplits);
      }
    });
  }

  it('an older relay (selects v1 whenever offered) leaves a new page splitting itself', () => {
    const oldRelay = (o: ReadonlySet<string>): string | false =>
      o.has(RELAY_SUBPROTOCOL) ? RELAY_SUBPROTOCOL : false;
    const selected = oldRelay(new Set(relaySubprotocols('t', { longAnswers: true })));
    expect(selected).toBe(RELAY_SUBPROTOCOL);
    expect(relaySplitsLongAnswers(selected as string)).toBe(false);
  });

  it('subprotocol names are RFC 7230 tokens', () => {
    for (const p of [RELAY_SUBPROTOCOL, RELAY_SUBPROTOCOL_LONG_ANSWERS]) {
      expect(p).toMatch(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/);
    }
  });
});
