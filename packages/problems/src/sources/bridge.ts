/**
 * The bridge's codes (`BridgeError.code` of @cardlend/bridge) → problem. A failure the bridge
 * itself detected carries `{ kind: 'bridge', code }` as its source; the others keep the code
 * they came with (CCID, relay close, VSCard, PC/SC). This table also explains a bridge state
 * that reports only its code. Exhaustive over `BridgeErrorCode`: checked where both packages
 * meet (apps/web/src/lib/errors), since this package does not depend on the bridge.
 */
import type { ProblemId } from '../catalog/index.ts';

export const BRIDGE_PROBLEMS = {
  // Detected by the bridge itself.
  BRIDGE_NO_WEBSOCKET: 'no-websocket',
  BRIDGE_RELAY_PROTOCOL: 'relay-protocol',
  BRIDGE_VM_NOT_ANSWERING: 'vm-not-answering',
  BRIDGE_READER_REFUSED: 'vm-reader-refused',
  BRIDGE_ATR_REFUSED: 'atr-refused',
  BRIDGE_UNKNOWN: 'unexpected',
  // Named after a relay close code (the close code, when known, says the same or more).
  BRIDGE_RELAY_UNREACHABLE: 'relay-unreachable',
  BRIDGE_CONNECTION_LOST: 'relay-unreachable',
  BRIDGE_RELAY_GOING_AWAY: 'relay-stopped',
  BRIDGE_RELAY_CLOSED: 'session-ended',
  BRIDGE_BAD_FRAME: 'relay-rejected-message',
  BRIDGE_MESSAGE_TOO_BIG: 'relay-rejected-message',
  BRIDGE_UNAUTHORIZED: 'token-refused',
  BRIDGE_TOKEN_USED: 'token-used',
  BRIDGE_ORIGIN_REFUSED: 'origin-refused',
  BRIDGE_AUTH_TIMEOUT: 'token-refused',
  BRIDGE_RATE_LIMITED: 'rate-limited',
  BRIDGE_VM_IN_USE: 'vm-in-use',
  BRIDGE_VM_UNREACHABLE: 'vm-unreachable',
  BRIDGE_VM_CLOSED: 'vm-closed',
  BRIDGE_VM_PROTOCOL: 'vm-protocol',
  BRIDGE_IDLE_TIMEOUT: 'idle-timeout',
  BRIDGE_RESUME_REFUSED: 'session-not-resumable',
  // Named after a reader (CCID) code.
  BRIDGE_CARD_MUTE: 'card-mute',
  BRIDGE_CARD_ABSENT: 'card-absent',
  BRIDGE_CARD_RESET: 'card-absent',
  BRIDGE_CARD_PROTOCOL: 'reader-error',
  BRIDGE_READER_GONE: 'reader-gone',
  BRIDGE_READER_CLOSED: 'reader-gone',
  BRIDGE_READER_TIMEOUT: 'reader-error',
  BRIDGE_READER_BUSY: 'device-busy',
  BRIDGE_READER_ERROR: 'reader-error',
  BRIDGE_UNSUPPORTED: 'reader-unsupported',
  BRIDGE_APDU_TOO_LONG: 'reader-unsupported',
  BRIDGE_BAD_APDU: 'unexpected',
  BRIDGE_CANCELLED: 'unexpected',
} as const satisfies Readonly<Record<`BRIDGE_${string}`, ProblemId>>;

/** A bridge code this catalog knows. */
export type BridgeCodeName = keyof typeof BRIDGE_PROBLEMS;

/**
 * Bridge codes that only rename a relay close: with the close code at hand, the close code is
 * the failure's source (its problem is the same or more precise, its reference the original).
 */
export const BRIDGE_CLOSE_RENAMES: ReadonlySet<string> = new Set<BridgeCodeName>([
  'BRIDGE_RELAY_UNREACHABLE',
  'BRIDGE_CONNECTION_LOST',
  'BRIDGE_RELAY_GOING_AWAY',
  'BRIDGE_RELAY_CLOSED',
  'BRIDGE_BAD_FRAME',
  'BRIDGE_MESSAGE_TOO_BIG',
  'BRIDGE_UNAUTHORIZED',
  'BRIDGE_TOKEN_USED',
  'BRIDGE_ORIGIN_REFUSED',
  'BRIDGE_AUTH_TIMEOUT',
  'BRIDGE_RATE_LIMITED',
  'BRIDGE_VM_IN_USE',
  'BRIDGE_VM_UNREACHABLE',
  'BRIDGE_VM_CLOSED',
  'BRIDGE_VM_PROTOCOL',
  'BRIDGE_IDLE_TIMEOUT',
  'BRIDGE_RESUME_REFUSED',
]);

/** The problem of a bridge code, or null for a code this catalog does not know. */
export function problemForBridgeCode(code: string): ProblemId | null {
  return Object.hasOwn(BRIDGE_PROBLEMS, code) ? BRIDGE_PROBLEMS[code as BridgeCodeName] : null;
}
