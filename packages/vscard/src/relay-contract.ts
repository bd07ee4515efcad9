/**
 * The browser ⇄ relay contract as its own entry point (`@cardlend/vscard/relay-contract`):
 * the WebSocket path, the subprotocols (the VSCard one the relay selects, and the token
 * carrier `cardlend.token.<token>`), and the close codes with which the relay ends or refuses
 * a session. Native clients (no `Origin` header) speak the same contract as the page.
 * The definitions live in relay-close.ts; the package root re-exports them too.
 */
import {
  RELAY_SUBPROTOCOL,
  RELAY_SUBPROTOCOL_LONG_ANSWERS,
  RELAY_TOKEN_SUBPROTOCOL_PREFIX,
} from './relay-close.ts';
import { RELAY_RESUME_CAPABILITY, RELAY_TICKET_SUBPROTOCOL_PREFIX } from './relay-resume.ts';

export {
  RELAY_RESUME_CAPABILITY,
  RELAY_TICKET_SUBPROTOCOL_PREFIX,
  MAX_RESUME_GRACE_MS,
  encodeResumeOffer,
  isResumeTicket,
  offeredResume,
  parseResumeOffer,
  resumeTicketFromBytes,
  type OfferedResume,
  type ResumeOffer,
} from './relay-resume.ts';
export {
  RELAY_PATH,
  RELAY_SUBPROTOCOL,
  RELAY_SUBPROTOCOL_LONG_ANSWERS,
  RELAY_TOKEN_SUBPROTOCOL_PREFIX,
  RelayClose,
  type RelayCloseCode,
} from './relay-close.ts';

/** What a client asks for besides the VSCard contract. */
export interface RelaySubprotocolOptions {
  /** Offer {@link RELAY_SUBPROTOCOL_LONG_ANSWERS} (the client then sends answers whole if selected). */
  longAnswers?: boolean;
  /** Offer {@link RELAY_RESUME_CAPABILITY}: the client understands the resume message (relay-resume.ts). */
  resumable?: boolean;
  /** Present this resume ticket instead of the token (a reconnect within the grace). */
  ticket?: string;
}

/**
 * The subprotocols a client offers: `cardlend.vscard.v1.long-answers` first when asked for, then
 * `cardlend.vscard.v1`, plus `cardlend.token.<token>` when it holds a session token — or, with
 * `ticket`, `cardlend.ticket.<ticket>` instead of the token — and `cardlend.resume.v1` when
 * `resumable`. The relay echoes one of the first two; token, ticket and marker never come back.
 */
export function relaySubprotocols(token?: string, opts: RelaySubprotocolOptions = {}): string[] {
  const offered = opts.longAnswers === true ? [RELAY_SUBPROTOCOL_LONG_ANSWERS] : [];
  offered.push(RELAY_SUBPROTOCOL);
  if (opts.ticket !== undefined) offered.push(RELAY_TICKET_SUBPROTOCOL_PREFIX + opts.ticket);
  else if (token !== undefined && token !== '') {
    offered.push(RELAY_TOKEN_SUBPROTOCOL_PREFIX + token);
  }
  if (opts.resumable === true) offered.push(RELAY_RESUME_CAPABILITY);
  return offered;
}

/**
 * The relay's choice among the offered subprotocols: the long-answers contract when offered,
 * else `cardlend.vscard.v1`, else none (`false`: not a cardlend client).
 */
export function selectRelaySubprotocol(offered: ReadonlySet<string>): string | false {
  if (offered.has(RELAY_SUBPROTOCOL_LONG_ANSWERS)) return RELAY_SUBPROTOCOL_LONG_ANSWERS;
  return offered.has(RELAY_SUBPROTOCOL) ? RELAY_SUBPROTOCOL : false;
}

/** Whether the selected subprotocol (`WebSocket.protocol`) is a cardlend VSCard contract. */
export function isRelaySubprotocol(selected: string): boolean {
  return selected === RELAY_SUBPROTOCOL || selected === RELAY_SUBPROTOCOL_LONG_ANSWERS;
}

/** Whether the selected subprotocol makes the relay split long answers (send them whole). */
export function relaySplitsLongAnswers(selected: string): boolean {
  return selected === RELAY_SUBPROTOCOL_LONG_ANSWERS;
}
