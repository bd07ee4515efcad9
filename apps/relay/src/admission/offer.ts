/**
 * The client's `Sec-WebSocket-Protocol` offer, read once at the upgrade into the parts
 * admission uses: whether a VSCard contract was offered (else 400), the session token (or
 * "several tokens"), the resume ticket, and whether the client understands the resume message.
 * The header itself is not kept. The token and the ticket are credentials: they reach only the
 * admission step that uses them (the token through `AdmissionIo.offeredToken`, the ticket the
 * resume claim), never the session; what reaches a session is `ClientInfo`, which has only
 * `isResumeCapable` of the offer.
 *
 * The long-answers contract is not read here: ws selects it (auth/origin.ts `selectSubprotocol`)
 * and the session reads the selected subprotocol (`ws.protocol`).
 */
import { offeredResume } from '@cardlend/vscard/relay-contract';
import { offeredSubprotocols, tokenAmongProtocols } from '../auth/origin.ts';

/** The token part of the offer: what the token step reads (auth/origin.ts rules). */
export interface OfferedToken {
  /** The token after `cardlend.token.`; null if none, empty, too long, or several were offered. */
  readonly token: string | null;
  /** More than one token was offered (refused as a malformed token). */
  readonly hasSeveralTokens: boolean;
}

/** No token offered (a client that authenticates with its first message, or a resume). */
export const NO_OFFERED_TOKEN: OfferedToken = { token: null, hasSeveralTokens: false };

/** The offer as admission uses it. */
export interface ClientOffer {
  /** `cardlend.vscard.v1` or its long-answers form was offered (else the upgrade gets 400). */
  readonly hasVscardProtocol: boolean;
  readonly offeredToken: OfferedToken;
  /** The ticket after `cardlend.ticket.` (the first, if several; shape not checked here). */
  readonly resumeTicket: string | null;
  /** `cardlend.resume.v1` was offered: the client understands the resume message. */
  readonly isResumeCapable: boolean;
}

/** Reads the header value (or values) once; never throws, whatever the client sent. */
export function parseClientOffer(header: string | readonly string[] | undefined): ClientOffer {
  const offered = offeredSubprotocols(header);
  const { hasVscardProtocol, token, hasSeveralTokens } = tokenAmongProtocols(offered);
  const resume = offeredResume(offered);
  return {
    hasVscardProtocol,
    offeredToken:
      token === null && !hasSeveralTokens ? NO_OFFERED_TOKEN : { token, hasSeveralTokens },
    resumeTicket: resume.ticket,
    isResumeCapable: resume.capable,
  };
}
