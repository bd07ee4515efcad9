/**
 * Resuming a dropped lending session (issue 14 §1, relay-resume.ts of @cardlend/vscard): the
 * latest resume offer the relay sent, which credential the next connection presents, and what
 * a refused ticket means. Pure.
 *
 * - The relay sends an offer (a single-use ticket and its grace period) as a text frame after
 *   admission and after every resume; the newest replaces the older one.
 * - After a drop without a close frame (1006: the only drop the relay parks a session for),
 *   every reconnect presents the ticket instead of the token (the token may be single-use)
 *   until the relay answers: a new offer after a resume, or a refusal.
 * - A close with a code (VM closed, relay going away, ...) means the relay ended the session
 *   itself: the ticket is dropped and the reconnect presents the token, as before resuming.
 * - A refused ticket (`RESUME_EXPIRED`, `RESUME_USED`, `RESUME_UNKNOWN`: grace over, replayed,
 *   or a relay that restarted): `cannot-resume`, and the token is tried once more — a relay
 *   without tokens, or a token that allows it, starts a fresh session (the card is announced
 *   anew); if the relay refuses the token too (a single-use one), lending ends with the resume
 *   refusal, which says why.
 */
import { parseResumeOffer, RelayClose, type ResumeOffer } from '@cardlend/vscard';
import type { BridgeError } from '../errors.ts';

/** What the page shows about resuming: reconnecting with the ticket, back in the same session, or not possible. */
export type ResumeStatus = 'resuming' | 'resumed' | 'cannot-resume';

/** How a connection that presented a ticket (or came after a refused one) ended, for resuming. */
export type ResumeVerdict =
  /** Nothing about resuming: handle the close as usual. */
  | { kind: 'usual' }
  /** The session cannot be resumed and the token was refused too: end lending with this error. */
  | { kind: 'over'; error: BridgeError }
  /** The relay refused the ticket: reconnect with the token. */
  | { kind: 'token-fallback' };

const TICKET_REFUSALS: ReadonlySet<number> = new Set([
  RelayClose.RESUME_EXPIRED,
  RelayClose.RESUME_USED,
  RelayClose.RESUME_UNKNOWN,
]);

/** A close without a close frame: the only drop after which the relay keeps the session. */
const DROPPED = 1006;

/** See the module comment. */
export class ResumeTicket {
  readonly isEnabled: boolean;
  #offer: ResumeOffer | null = null;
  /** The ticket's refusal while the token is tried again. */
  #refusedTicket: BridgeError | null = null;

  constructor(isEnabled: boolean) {
    this.isEnabled = isEnabled;
  }

  /** The ticket the next connection presents, if any. */
  get ticket(): string | undefined {
    return this.#offer?.ticket;
  }

  /** The grace period of the current offer, ms. */
  get graceMs(): number | undefined {
    return this.#offer?.graceMs;
  }

  /** A text frame from the relay: true when it was a resume offer (kept), false otherwise. */
  receive(text: string): boolean {
    if (!this.isEnabled) return false;
    const offer = parseResumeOffer(text);
    if (offer === null) return false;
    this.#offer = offer;
    return true;
  }

  /** A fresh session (token) was lent after a refused ticket: nothing is pending any more. */
  freshSession(): void {
    this.#refusedTicket = null;
  }

  /**
   * A connection closed with `code` (refusal classification `isRefused`); `presented` tells
   * whether it carried the ticket. `error` is the close as a BridgeError.
   */
  closed(presented: boolean, code: number, isRefused: boolean, error: BridgeError): ResumeVerdict {
    if (presented && TICKET_REFUSALS.has(code)) {
      this.#offer = null;
      this.#refusedTicket = error;
      return { kind: 'token-fallback' };
    }
    // The relay ended the session itself (or refused us): its ticket is worthless now.
    if (code !== DROPPED) this.#offer = null;
    if (!presented && isRefused && this.#refusedTicket !== null) {
      const first = this.#refusedTicket;
      this.#refusedTicket = null;
      return { kind: 'over', error: first };
    }
    return { kind: 'usual' };
  }
}
