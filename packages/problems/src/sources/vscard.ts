/**
 * VSCard codes (`VscardError.code` of @cardlend/vscard) → problem. A client meets them when
 * the relay forwards bytes that are not VSCard: a relay of another version or not a relay.
 * Typed over the whole union, so a new code does not compile until it has a problem.
 */
import type { VscardErrorCode } from '@cardlend/vscard';
import type { ProblemId } from '../catalog/index.ts';

export const VSCARD_PROBLEMS = {
  VSCARD_PAYLOAD_TOO_LARGE: 'relay-protocol',
  VSCARD_TRUNCATED: 'relay-protocol',
  VSCARD_LENGTH_MISMATCH: 'relay-protocol',
  VSCARD_BAD_PAYLOAD: 'relay-protocol',
  VSCARD_UNKNOWN_TYPE: 'relay-protocol',
  VSCARD_UNEXPECTED_TYPE: 'relay-protocol',
  VSCARD_DECODER_FAILED: 'relay-protocol',
  // The card or reader returned an ATR too short to parse: the card is the problem.
  VSCARD_BAD_ATR: 'card-unreadable',
} as const satisfies Readonly<Record<VscardErrorCode, ProblemId>>;
