/**
 * Refusal and failure codes of the helper protocol. Every refusal the helper sends carries
 * one of these (in an `error` message or as the reason of a WebSocket close), so the page can
 * explain it in its own words (@cardlend/problems). Reader failures travel with the reader's
 * own codes (`CCID_*`, the bridge's reader vocabulary) instead.
 */

/** Codes of refusals by the helper itself. */
export const HELPER_ERROR_CODES = [
  /** The connection carried no `Origin` header (not a page) or one that is not a web origin. */
  'HELPER_ORIGIN_MISSING',
  /** The page's origin was not approved on this computer; pair first. */
  'HELPER_ORIGIN_NOT_APPROVED',
  /** The person refused this origin in the helper's terminal (for as long as the helper runs). */
  'HELPER_PAIRING_REFUSED',
  /** Another pairing is waiting for an answer in the terminal. */
  'HELPER_PAIRING_BUSY',
  /** The helper has no terminal to ask in: it must be started with `--allow-origin`. */
  'HELPER_PAIRING_UNAVAILABLE',
  /** The origin cannot be approved (not https, and not a page on this computer). */
  'HELPER_ORIGIN_INSECURE',
  /** Too many connections at once. */
  'HELPER_TOO_MANY_CONNECTIONS',
  /** A message larger than the limit. */
  'HELPER_MESSAGE_TOO_LARGE',
  /** A message that is not a valid protocol message (not JSON, unknown type, bad field). */
  'HELPER_MALFORMED',
  /** Messages sent faster than the limit. */
  'HELPER_RATE_LIMITED',
  /** Too many requests without an answer. */
  'HELPER_TOO_MANY_REQUESTS',
  /** A protocol version the helper does not speak. */
  'HELPER_VERSION',
  /** Another page uses this reader (one page at a time per reader). */
  'HELPER_READER_IN_USE',
  /** No reader of that name. */
  'HELPER_UNKNOWN_READER',
  /** A reader command before `connect`, or for a reader this page does not hold. */
  'HELPER_NOT_CONNECTED',
  /** The computer's smart-card service is not running (PC/SC). */
  'HELPER_NO_SERVICE',
  /** The helper is stopping. */
  'HELPER_STOPPING',
  /** Anything else that went wrong inside the helper. */
  'HELPER_INTERNAL',
] as const;

export type HelperErrorCode = (typeof HELPER_ERROR_CODES)[number];

/** Whether `code` is a helper refusal code. */
export function isHelperErrorCode(code: unknown): code is HelperErrorCode {
  return typeof code === 'string' && (HELPER_ERROR_CODES as readonly string[]).includes(code);
}

/**
 * WebSocket close codes the helper uses (private range 4000–4999); the reason is the
 * {@link HelperErrorCode}. A refusal ends the connection when its code without `HELPER_` is
 * a key here (`HELPER_VERSION` closes with `VERSION`); the others answer one request.
 */
export const HELPER_CLOSE = {
  /** Missing or non-web Origin. */
  ORIGIN_MISSING: 4403,
  TOO_MANY_CONNECTIONS: 4429,
  MESSAGE_TOO_LARGE: 4413,
  MALFORMED: 4400,
  RATE_LIMITED: 4420,
  TOO_MANY_REQUESTS: 4421,
  VERSION: 4426,
  STOPPING: 4503,
} as const;

type ClosingName = keyof typeof HELPER_CLOSE;

/** The close code for a refusal that ends the connection; `null` for the others. */
export function closeCodeFor(code: HelperErrorCode): number | null {
  const name = code.slice('HELPER_'.length);
  return Object.hasOwn(HELPER_CLOSE, name) ? HELPER_CLOSE[name as ClosingName] : null;
}

/** The refusal a close code stands for (the page reads the reason first, this as fallback). */
export function codeForClose(closeCode: number, reason: string): HelperErrorCode | null {
  if (isHelperErrorCode(reason)) return reason;
  for (const code of HELPER_ERROR_CODES) if (closeCodeFor(code) === closeCode) return code;
  return null;
}
