/**
 * The simulator's one error class. The simulator mostly reports problems the way real hardware
 * does (CCID bError codes, USB statuses, DOMExceptions like Chrome); CardSimError is for misuse of
 * the simulator API itself (bad profile, bad slot number, bad card configuration).
 */

/** Error codes of @cardlend/card-sim. */
export type CardSimErrorCode =
  | 'CARD_SIM_BAD_PROFILE' // a ReaderProfile is inconsistent (e.g. character level, bad packet size)
  | 'CARD_SIM_BAD_SLOT' // slot index outside 0..bMaxSlotIndex
  | 'CARD_SIM_BAD_CARD' // a VirtualCard is inconsistent (e.g. ATR without the announced protocol)
  | 'CARD_SIM_BAD_ARGUMENT'; // any other invalid argument

const BRAND = Symbol.for('cardlend.card-sim.error');

/** Thrown synchronously for simulator misuse; `code` is stable, `message` is for humans. */
export class CardSimError extends Error {
  readonly code: CardSimErrorCode;
  readonly [BRAND] = true;
  constructor(code: CardSimErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CardSimError';
    this.code = code;
  }
}

/** Brand check that survives duplicated bundles (no bare instanceof). */
export function isCardSimError(e: unknown): e is CardSimError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
}
