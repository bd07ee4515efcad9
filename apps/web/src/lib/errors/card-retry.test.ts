import { describe, expect, it } from 'vitest';
import { cardRetryWords } from './card-retry.ts';
import { explainFailure, failureFromLinkError } from './explain.ts';

describe('cardRetryWords', () => {
  it("says the card is not ready, the attempt of N, and the last failure in the catalog's words", () => {
    const why = explainFailure(
      failureFromLinkError('BRIDGE_READER_BUSY', undefined, {
        kind: 'pcsc',
        code: 'SCARD_E_SHARING_VIOLATION',
      }),
    );
    expect(cardRetryWords({ attempt: 2, maxAttempts: 3, why })).toEqual({
      status: 'Not ready yet; trying again (attempt 2 of 3)…',
      reason: `Last try: ${why.title} (SCARD_E_SHARING_VIOLATION).`,
    });
    expect(why.id).toBe('reader-in-use');
  });

  it.each([
    ['BRIDGE_CARD_MUTE', 'card-mute'],
    ['BRIDGE_READER_TIMEOUT', 'reader-error'],
    ['BRIDGE_READER_ERROR', 'reader-error'],
  ])('a failure without a source (%s) is told by its bridge code', (code, id) => {
    const why = explainFailure(failureFromLinkError(code));
    expect(why.id).toBe(id);
    const words = cardRetryWords({ attempt: 1, maxAttempts: 3, why });
    expect(words.status).toBe('Not ready yet; trying again (attempt 1 of 3)…');
    expect(words.reason).toBe(`Last try: ${why.title} (${code}).`);
  });
});
