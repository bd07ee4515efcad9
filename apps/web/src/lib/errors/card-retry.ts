/**
 * The page's words while the bridge powers the card on again by itself (another program held
 * the card, the reader was slow, the contacts had not settled): the card is not ready yet and
 * the page is trying again, and why the last try failed in the catalog's own words (its
 * title and reference, @cardlend/problems), never the bridge's message. Pure.
 */
import type { Explanation } from './explain.ts';

/** The status of the card while retrying, and the reason of the last failed try. */
export interface CardRetryWords {
  /** e.g. "Not ready yet; trying again (attempt 1 of 3)…" */
  status: string;
  /** e.g. "Last try: Another program is using the card (SCARD_E_SHARING_VIOLATION)." */
  reason: string;
}

/** The words for retry `attempt` of `maxAttempts`, the last try having failed as `why` says. */
export function cardRetryWords(retry: {
  attempt: number;
  maxAttempts: number;
  why: Explanation;
}): CardRetryWords {
  return {
    status: `Not ready yet; trying again (attempt ${retry.attempt} of ${retry.maxAttempts})…`,
    reason: `Last try: ${retry.why.title} (${retry.why.reference}).`,
  };
}
