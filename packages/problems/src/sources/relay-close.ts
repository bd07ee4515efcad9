/**
 * WebSocket close codes → problem: the relay's own (`RelayClose`, the browser⇄relay
 * contract in @cardlend/vscard) and the two the platform reports for a connection that
 * failed (RFC 6455 §7.4.1: 1006 no close frame, 1015 TLS handshake failed).
 */
import { RelayClose, type RelayCloseCode } from '@cardlend/vscard';
import type { ProblemId } from '../catalog/index.ts';

/** Every relay close code → problem; typed over `RelayCloseCode`, so a new code must be mapped. */
export const RELAY_CLOSE_PROBLEMS = {
  [RelayClose.NORMAL]: 'session-ended',
  [RelayClose.GOING_AWAY]: 'relay-stopped',
  [RelayClose.MESSAGE_TOO_BIG]: 'relay-rejected-message',
  [RelayClose.BAD_FRAME]: 'relay-rejected-message',
  [RelayClose.UNAUTHORIZED]: 'token-refused',
  [RelayClose.TOKEN_USED]: 'token-used',
  [RelayClose.ORIGIN_REFUSED]: 'origin-refused',
  [RelayClose.RATE_LIMITED]: 'rate-limited',
  [RelayClose.VM_IN_USE]: 'vm-in-use',
  [RelayClose.VM_UNREACHABLE]: 'vm-unreachable',
  [RelayClose.VM_CLOSED]: 'vm-closed',
  [RelayClose.VM_PROTOCOL]: 'vm-protocol',
  [RelayClose.IDLE_TIMEOUT]: 'idle-timeout',
  // The token did not arrive in time: the person's remedy is the same as for a refused one.
  [RelayClose.AUTH_TIMEOUT]: 'token-refused',
  // The relay refused a message that could wedge the VM's card reader.
  [RelayClose.PROTOCOL_VIOLATION]: 'relay-rejected-message',
  // A dropped session could not be picked up again (issue 14 §1).
  [RelayClose.RESUME_EXPIRED]: 'session-not-resumable',
  [RelayClose.RESUME_USED]: 'session-not-resumable',
  [RelayClose.RESUME_UNKNOWN]: 'session-not-resumable',
  // A relay cluster node without its shared store refuses new sessions (issue 15).
  [RelayClose.CLUSTER_UNAVAILABLE]: 'relay-cluster-unavailable',
  [RelayClose.ENDED_BY_OPERATOR]: 'ended-by-helpdesk',
} as const satisfies Readonly<Record<RelayCloseCode, ProblemId>>;

/** Close codes a client's platform reports when the connection failed or dropped (never sent by the relay). */
export const TRANSPORT_CLOSE_CODES: ReadonlySet<number> = new Set([1006, 1015]);

/** The problem for any close code: a relay code, a dropped connection, or `unexpected`. */
export function problemForClose(code: number): ProblemId {
  if (Object.hasOwn(RELAY_CLOSE_PROBLEMS, code))
    return RELAY_CLOSE_PROBLEMS[code as RelayCloseCode];
  return TRANSPORT_CLOSE_CODES.has(code) ? 'relay-unreachable' : 'unexpected';
}
