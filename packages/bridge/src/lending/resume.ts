/**
 * Resuming a dropped lending session (issue 14 §1, relay-resume.ts of @cardlend/vscard): the
 * latest resume offer the relay sent, which credential the next connection presents, and what
 * a refused ticket means. Pure.
 *
 * - The relay sends an offer (a single-use ticket and its grace period) as a text frame after
 *   admission and after every resume; the newest replaces the older one.
 * - After a drop, every reconnect presents the ticket instead of the token (the token is
 *   single-use) until the relay answers: a new offer after a resume, or a refusal.
 * - `RESUME_EXPIRED` / `RESUME_USED`: the session is over; lending ends, `cannot-resume`.
 * - `RESUME_UNKNOWN`: the relay does not know the ticket — it restarted (and removed the card
 *   from the VM when it shut down). The token is tried once more, as before resuming existed;
 *   if the relay refuses it too, lending ends with the resume refusal, which says why.
 */
import { parseResumeOffer, RelayClose, type ResumeOffer } from '@cardlend/vscard';
import type { BridgeError } from '../errors.ts';

/** What the page shows about resuming: reconnecting with the ticket, back in the same session, or not possible. */
export type ResumeStatus = 'resuming' | 'resumed' | 'cannot-resume';

/** How a connection that presented a ticket (or came after a refused one) ended, for resuming. */
export type ResumeVerdict =
  /** Nothing about resuming: handle the close as usual. */
  | { kind: 'usual' }
  /** The session cannot be resumed: end lending with this error. */
  | { kind: 'over'; error: BridgeError }
  /** The relay does not know the ticket: reconnect with the token. */
  | { kind: 'token-fallback' };

/** See the module comment. */
export class ResumeTicket {
  readonly isEnabled: boolean;
  #offer: ResumeOffer | null = null;
  /** The RESUME_UNKNOWN refusal while the token is tried again. */
  #unknownTicket: BridgeError | null = null;

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
    this.#unknownTicket = null;
  }

  /**
   * A connection closed with `code` (refusal classification `isRefused`); `presented` tells
   * whether it carried the ticket. `error` is the close as a BridgeError.
   */
  closed(presented: boolean, code: number, isRefused: boolean, error: BridgeError): ResumeVerdict {
    if (presented && (code === RelayClose.RESUME_EXPIRED || code === RelayClose.RESUME_USED)) {
      this.#offer = null;
      return { kind: 'over', error };
    }
    if (presented && code === RelayClose.RESUME_UNKNOWN) {
      this.#offer = null;
      this.#unknownTicket = error;
      return { kind: 'token-fallback' };
    }
    if (!presented && isRefused && this.#unknownTicket !== null) {
      const first = this.#unknownTicket;
      this.#unknownTicket = null;
      return { kind: 'over', error: first };
    }
    return { kind: 'usual' };
  }
}
