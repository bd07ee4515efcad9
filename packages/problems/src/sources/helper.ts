/**
 * The local helper's refusal codes (`HelperErrorCode` of @cardlend/helper-protocol, `cardlend
 * serve`) → problem. Keyed by the code's text (the catalog names only the CCID core's and
 * VSCard's codes); the page's tests check that every code of the protocol has an entry.
 */
import type { ProblemId } from '../catalog/index.ts';

export const HELPER_PROBLEMS: Readonly<Record<string, ProblemId>> = {
  HELPER_ORIGIN_MISSING: 'helper-origin-insecure',
  HELPER_ORIGIN_NOT_APPROVED: 'helper-not-approved',
  HELPER_PAIRING_REFUSED: 'helper-pairing-refused',
  HELPER_PAIRING_BUSY: 'helper-pairing-busy',
  HELPER_PAIRING_UNAVAILABLE: 'helper-pairing-unavailable',
  HELPER_ORIGIN_INSECURE: 'helper-origin-insecure',
  HELPER_TOO_MANY_CONNECTIONS: 'helper-overloaded',
  HELPER_MESSAGE_TOO_LARGE: 'helper-protocol',
  HELPER_MALFORMED: 'helper-protocol',
  HELPER_RATE_LIMITED: 'helper-overloaded',
  HELPER_TOO_MANY_REQUESTS: 'helper-overloaded',
  HELPER_VERSION: 'helper-protocol',
  HELPER_READER_IN_USE: 'helper-reader-in-use',
  HELPER_UNKNOWN_READER: 'helper-reader-gone',
  HELPER_NOT_CONNECTED: 'helper-reader-gone',
  HELPER_NO_SERVICE: 'helper-no-service',
  HELPER_STOPPING: 'helper-stopped',
  HELPER_INTERNAL: 'helper-failed',
};
