/**
 * CCID driver codes (`CcidError.code` of @cardlend/ccid, also what every bridge reader's errors
 * carry) → problem. A Record over the driver's union: a code added to the driver does not
 * compile here until it has a problem.
 */
import type { CcidErrorCode } from '@cardlend/ccid';
import type { ProblemId } from '../catalog/index.ts';

export const CCID_PROBLEMS = {
  CCID_PROTECTED_CLASS: 'protected-class',
  CCID_DEVICE_BUSY: 'device-busy',
  CCID_NOT_CCID: 'not-ccid',
  CCID_BAD_DESCRIPTOR: 'not-ccid',
  CCID_UNSUPPORTED: 'reader-unsupported',
  // The guest's command is longer than this reader or protocol carries.
  CCID_APDU_TOO_LONG: 'reader-unsupported',
  CCID_READER_GONE: 'reader-gone',
  CCID_CARD_ABSENT: 'card-absent',
  // transmit() after the card was pulled or reset: the slot is no longer powered.
  CCID_NOT_POWERED: 'card-absent',
  CCID_CARD_MUTE: 'card-mute',
  CCID_BAD_ATR: 'card-unreadable',
  // A broken exchange with the reader or card: re-inserting / re-plugging is the remedy.
  CCID_TIMEOUT: 'reader-error',
  CCID_BUSY: 'reader-error',
  CCID_BAD_SEQUENCE: 'reader-error',
  CCID_BAD_MESSAGE: 'reader-error',
  CCID_PROTOCOL: 'reader-error',
  CCID_HARDWARE_ERROR: 'reader-error',
  CCID_COMMAND_FAILED: 'reader-error',
  CCID_TRANSFER_FAILED: 'reader-error',
  CCID_CLOSED: 'reader-error',
  // A guest command that is not an APDU (the guest gets an error status), or a call cancelled
  // while lending stopped: nothing the person can fix.
  CCID_BAD_APDU: 'unexpected',
  CCID_ABORTED: 'unexpected',
} as const satisfies Readonly<Record<CcidErrorCode, ProblemId>>;
