/**
 * The fixed numbers of the helper protocol: its version, the WebSocket subprotocol that
 * carries it, the documented default port and the limits both sides enforce.
 */

/** The protocol version this package speaks. */
export const HELPER_PROTOCOL_VERSION = 1;

/** The WebSocket subprotocol of version 1 (the page offers it, the helper selects it). */
export const HELPER_SUBPROTOCOL = 'cardlend-helper.v1';

/** The helper's documented default port on 127.0.0.1. */
export const HELPER_DEFAULT_PORT = 28163;

/** The WebSocket path the helper serves. */
export const HELPER_PATH = '/cardlend-helper';

/** Limits (the helper enforces them; the page stays inside them). */
export const HELPER_LIMITS = {
  /**
   * Largest message, in bytes of its UTF-8 text. An extended command APDU (65 545 bytes) is
   * 131 090 hex digits; the rest of the message is small.
   */
  maxMessageBytes: 140 * 1024,
  /** Largest command APDU, bytes (extended: 4 + 3 + 65 535 + 3). */
  maxApduBytes: 65_545,
  /** Longest reader name, characters. */
  maxReaderNameChars: 200,
  /** Largest request id (ids are positive integers the page chooses). */
  maxRequestId: 2 ** 31 - 1,
  /** Requests a page may have unanswered at once. */
  maxPendingRequests: 8,
  /** Connections open at once (any origin). */
  maxConnections: 8,
  /** Messages per second a page may send on average… */
  ratePerSecond: 400,
  /** …and in one burst. */
  rateBurst: 800,
} as const;

/** The limits' shape, for overriding some of them (tests, administrators). */
export type HelperLimits = { readonly [K in keyof typeof HELPER_LIMITS]: number };
