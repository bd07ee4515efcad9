/**
 * What the cluster resume tests share: a resumable client's subprotocols and credentials, and
 * a wait for a ticket's record in the cluster store.
 */
import {
  RELAY_RESUME_CAPABILITY,
  RELAY_SUBPROTOCOL,
  RELAY_TICKET_SUBPROTOCOL_PREFIX,
  RELAY_TOKEN_SUBPROTOCOL_PREFIX,
} from '@cardlend/vscard';
import { ticketHash } from '../../src/cluster/ticket-directory.ts';
import type { RelayServer } from '../../src/server.ts';

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

/** Waits until `relay`'s cluster store records `ticket` as `state` (a live one before its offer). */
export async function recorded(relay: RelayServer, ticket: string, state = 'live'): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await relay.cluster?.store.findTicket(ticketHash(ticket)))?.state === state) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`ticket not recorded as ${state}`);
}
