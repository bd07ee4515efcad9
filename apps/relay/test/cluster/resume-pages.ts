/** What the cluster resume tests share: a resumable client's subprotocols and credentials. */
import {
  RELAY_RESUME_CAPABILITY,
  RELAY_SUBPROTOCOL,
  RELAY_TICKET_SUBPROTOCOL_PREFIX,
  RELAY_TOKEN_SUBPROTOCOL_PREFIX,
} from '@cardlend/vscard';

/** The subprotocols of a client that can resume, presenting `credential`. */
export const resumable = (credential: string): string[] => [
  RELAY_SUBPROTOCOL,
  RELAY_RESUME_CAPABILITY,
  credential,
];

/** A ticket as the credential of a reconnect. */
export const withTicket = (ticket: string): string => RELAY_TICKET_SUBPROTOCOL_PREFIX + ticket;

/** A token as the credential of a first connection. */
export const withToken = (token: string): string => RELAY_TOKEN_SUBPROTOCOL_PREFIX + token;
