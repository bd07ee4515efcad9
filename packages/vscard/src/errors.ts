/**
 * The package's one error class. Callers branch on `code`, never on the message text.
 *
 * Catalog (code — meaning — what the user/owner can do):
 * - `VSCARD_PAYLOAD_TOO_LARGE` — a header declares more payload than allowed (default 65524,
 *   QEMU's 64 KiB input buffer minus the header, vscard-protocol.md §5): QEMU would wedge. Close the stream.
 * - `VSCARD_TRUNCATED` — fewer bytes than one header, or the stream ended inside a message.
 * - `VSCARD_LENGTH_MISMATCH` — a whole frame's size differs from 12 + its declared length.
 * - `VSCARD_BAD_PAYLOAD` — a known type with a payload it cannot carry (e.g. Error ≠ 4 bytes,
 *   Init < 8 bytes, CardRemove with payload, ReaderAdd name not UTF-8).
 * - `VSCARD_UNKNOWN_TYPE` — a type the protocol (dialect) does not define, where one is required.
 * - `VSCARD_UNEXPECTED_TYPE` — a known type that may not travel in that direction (relay check).
 * - `VSCARD_DECODER_FAILED` — a streaming framer/decoder was used after it failed; `cause` holds
 *   the original error. A byte stream cannot resynchronise: close the connection.
 * - `VSCARD_BAD_ATR` — an ATR too short or cut inside its interface bytes to be parsed
 *   (ISO 7816-3 §8.2); the card or reader returned garbage: do not lend it.
 */
export type VscardErrorCode =
  | 'VSCARD_PAYLOAD_TOO_LARGE'
  | 'VSCARD_TRUNCATED'
  | 'VSCARD_LENGTH_MISMATCH'
  | 'VSCARD_BAD_PAYLOAD'
  | 'VSCARD_UNKNOWN_TYPE'
  | 'VSCARD_UNEXPECTED_TYPE'
  | 'VSCARD_DECODER_FAILED'
  | 'VSCARD_BAD_ATR';

const BRAND = Symbol.for('cardlend.vscard.error');

/** Error raised for protocol violations by the peer (bad bytes); see {@link VscardErrorCode}. */
export class VscardError extends Error {
  readonly code: VscardErrorCode;
  readonly [BRAND] = true;

  constructor(code: VscardErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VscardError';
    this.code = code;
  }
}

/** Brand check (works across duplicated bundles, unlike `instanceof`). */
export function isVscardError(e: unknown): e is VscardError {
  return typeof e === 'object' && e !== null && (e as { [BRAND]?: unknown })[BRAND] === true;
}
