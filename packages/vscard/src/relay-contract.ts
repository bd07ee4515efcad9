/**
 * The browser ⇄ relay contract as its own entry point (`@cardlend/vscard/relay-contract`):
 * the WebSocket path, the subprotocols (the VSCard one the relay selects, and the token
 * carrier `cardlend.token.<token>`), and the close codes with which the relay ends or refuses
 * a session. Native clients (no `Origin` header) speak the same contract as the page.
 * The definitions live in relay-close.ts; the package root re-exports them too.
 */
import { RELAY_SUBPROTOCOL, RELAY_TOKEN_SUBPROTOCOL_PREFIX } from './relay-close.ts';

export {
  RELAY_PATH,
  RELAY_SUBPROTOCOL,
  RELAY_TOKEN_SUBPROTOCOL_PREFIX,
  RelayClose,
  type RelayCloseCode,
} from './relay-close.ts';

/**
 * The subprotocols a client offers: `cardlend.vscard.v1`, plus `cardlend.token.<token>` when it
 * holds a session token. The relay echoes only the first; the token never comes back.
 */
export function relaySubprotocols(token?: string): string[] {
  return token === undefined || token === ''
    ? [RELAY_SUBPROTOCOL]
    : [RELAY_SUBPROTOCOL, RELAY_TOKEN_SUBPROTOCOL_PREFIX + token];
}
