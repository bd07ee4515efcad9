/**
 * The contract between the browser and the relay (not part of VSCard itself):
 * the WebSocket path, subprotocols and the close codes the relay uses, so the page
 * can explain every refusal. Codes 4000–4999 are application codes (RFC 6455 §7.4.2).
 */

/** Path of the relay's WebSocket endpoint. */
export const RELAY_PATH = '/vscard';

/** Subprotocol the relay selects; one VSCard message per binary frame, both ways. */
export const RELAY_SUBPROTOCOL = 'cardlend.vscard.v1';

/**
 * The same contract plus long answers split by the relay (issue 11 §3): the page sends every
 * APDU answer whole (≤ 65 524 bytes) and the relay splits answers longer than QEMU carries
 * (374 bytes) with `61xx` and serves the guest's GET RESPONSEs next to QEMU. A page offers it
 * before {@link RELAY_SUBPROTOCOL}; a relay that knows it selects it, an older relay selects
 * `cardlend.vscard.v1` and the page keeps splitting itself.
 */
export const RELAY_SUBPROTOCOL_LONG_ANSWERS = 'cardlend.vscard.v1.long-answers';

/** Prefix of the subprotocol that carries the session token: `cardlend.token.<base64url>`. */
export const RELAY_TOKEN_SUBPROTOCOL_PREFIX = 'cardlend.token.';

/** Close codes; reasons are short English sentences (≤ 123 bytes). */
export const RelayClose = {
  /** Normal end (the browser stopped lending). */
  NORMAL: 1000,
  /** The relay is shutting down. */
  GOING_AWAY: 1001,
  /** A frame was larger than the largest VSCard message. */
  MESSAGE_TOO_BIG: 1009,
  /** The browser sent something that is not one valid VSCard message. */
  BAD_FRAME: 4000,
  /** No token, or a token that is malformed, forged or expired. */
  UNAUTHORIZED: 4001,
  /** The token was already used. */
  TOKEN_USED: 4002,
  /** The page's origin is not allowed. */
  ORIGIN_REFUSED: 4003,
  /** Too many sessions, or messages too fast. */
  RATE_LIMITED: 4008,
  /** Another browser already lends a card to this VM. */
  VM_IN_USE: 4009,
  /** The relay could not reach the VM. */
  VM_UNREACHABLE: 4010,
  /** The VM closed its side. */
  VM_CLOSED: 4011,
  /** The VM sent bytes that are not VSCard, or stopped answering. */
  VM_PROTOCOL: 4012,
  /** The session was idle for too long. */
  IDLE_TIMEOUT: 4013,
  /** The browser did not authenticate in time. */
  AUTH_TIMEOUT: 4014,
  /**
   * The browser broke the VSCard protocol in a way that could wedge QEMU's input (issue 11):
   * an answer with no guest command waiting, a second control message before QEMU's reply, a
   * message too long for its type, or too much data QEMU has not confirmed reading
   * (ForwardGuard). The reason names the rule.
   */
  PROTOCOL_VIOLATION: 4015,
  /**
   * A resume ticket (relay-resume.ts) came after the grace period: the lending session is over
   * and the card was removed from the VM.
   */
  RESUME_EXPIRED: 4016,
  /** A resume ticket that was already used (a replay). */
  RESUME_USED: 4017,
  /** A resume ticket this relay never issued (forged, another target or origin, or the relay restarted since). */
  RESUME_UNKNOWN: 4018,
  /**
   * A relay cluster node cannot reach its shared store (issue 15): new sessions are refused
   * until it can; a live session whose VM lease another node took is ended with it too.
   */
  CLUSTER_UNAVAILABLE: 4019,
  /** The helpdesk ended the session through the relay's operator API (the card was removed). */
  ENDED_BY_OPERATOR: 4020,
} as const;

export type RelayCloseCode = (typeof RelayClose)[keyof typeof RelayClose];
