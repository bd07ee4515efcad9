/**
 * The single error class of @cardlend/ccid. Callers branch on {@link CcidError.code}, never on
 * the message text. Card status words (SW1SW2) and reader results are data, not errors.
 *
 * Catalog (code — meaning — what the user can do):
 * - CCID_PROTECTED_CLASS — interface class 0x0B and the browser refuses to claim it — use a vendor-class
 *   reader, an Isolated Web App with `usb-unrestricted`, or the Node CLI.
 * - CCID_DEVICE_BUSY — open()/claimInterface() failed: pcscd or the OS driver holds the reader — stop it.
 * - CCID_NOT_CCID — no CCID interface (class 0x0B, or 0xFF with a 54-byte class descriptor).
 * - CCID_BAD_DESCRIPTOR — a USB descriptor is truncated or malformed.
 * - CCID_TIMEOUT — the reader did not answer in time (the command was aborted).
 * - CCID_ABORTED — the caller's AbortSignal fired (the command was aborted).
 * - CCID_CARD_MUTE — the card does not answer (bError ICC_MUTE with a card present).
 * - CCID_CARD_ABSENT — no card in the slot (or it was pulled during the command).
 * - CCID_READER_GONE — the reader was unplugged; reported once, every later call fails with it.
 * - CCID_BUSY — a command is already in flight on this slot (one exchange at a time, no hidden queue).
 * - CCID_BAD_SEQUENCE — a reader answer carries an unexpected bSeq/bSlot too often.
 * - CCID_BAD_MESSAGE — a reader message is malformed (bad header, dwLength mismatch, wrong type).
 * - CCID_PROTOCOL — T=0/T=1/PPS/chaining failed unrecoverably, or the reader answered nonsense.
 * - CCID_HARDWARE_ERROR — the reader reported a hardware error (bError HW_ERROR, interrupt 0x51).
 * - CCID_COMMAND_FAILED — the reader refused a command (bError carried in `bError`).
 * - CCID_BAD_ATR — the ATR is malformed (TS, truncated interface bytes, > 33 bytes).
 * - CCID_BAD_APDU — the APDU is not a valid ISO 7816-4 command APDU.
 * - CCID_APDU_TOO_LONG — the APDU does not fit what the reader/protocol allows.
 * - CCID_UNSUPPORTED — the reader/card needs something this driver does not implement (character level, ICCD).
 * - CCID_NOT_POWERED — transmit() before powerOn() (or after the card was reset/removed) — power the slot on.
 * - CCID_CLOSED — the reader object was closed.
 * - CCID_TRANSFER_FAILED — a USB transfer failed (stall that did not clear, babble, platform error).
 */
export type CcidErrorCode =
  | 'CCID_PROTECTED_CLASS'
  | 'CCID_DEVICE_BUSY'
  | 'CCID_NOT_CCID'
  | 'CCID_BAD_DESCRIPTOR'
  | 'CCID_TIMEOUT'
  | 'CCID_ABORTED'
  | 'CCID_CARD_MUTE'
  | 'CCID_CARD_ABSENT'
  | 'CCID_READER_GONE'
  | 'CCID_BUSY'
  | 'CCID_BAD_SEQUENCE'
  | 'CCID_BAD_MESSAGE'
  | 'CCID_PROTOCOL'
  | 'CCID_HARDWARE_ERROR'
  | 'CCID_COMMAND_FAILED'
  | 'CCID_BAD_ATR'
  | 'CCID_BAD_APDU'
  | 'CCID_APDU_TOO_LONG'
  | 'CCID_UNSUPPORTED'
  | 'CCID_NOT_POWERED'
  | 'CCID_CLOSED'
  | 'CCID_TRANSFER_FAILED';

const brand = Symbol.for('@cardlend/ccid.CcidError');

/** Options of {@link CcidError}: the platform failure as `cause`, and the CCID bError when there is one. */
export interface CcidErrorOptions {
  cause?: unknown;
  /** CCID bError (CCID rev 1.1 §6.2.6) of the failed command, when the reader gave one. */
  bError?: number;
}

/** Error raised by every part of @cardlend/ccid. Use {@link isCcidError} rather than `instanceof`. */
export class CcidError extends Error {
  readonly code: CcidErrorCode;
  readonly bError: number | undefined;
  readonly [brand] = true;
  constructor(code: CcidErrorCode, message: string, options: CcidErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CcidError';
    this.code = code;
    this.bError = options.bError;
  }
}

/** Brand check that works across duplicated bundles (style.md §3). */
export function isCcidError(e: unknown): e is CcidError {
  return typeof e === 'object' && e !== null && (e as { [brand]?: unknown })[brand] === true;
}

/**
 * Per-code catalog (style.md §3): a one-line meaning and what the user can do. The web app maps
 * codes to UI text from here; messages of thrown errors carry details.
 */
export const CCID_ERROR_CATALOG: Readonly<
  Record<CcidErrorCode, { message: string; action: string }>
> = {
  CCID_PROTECTED_CLASS: {
    message: 'The browser does not let web pages use smart-card class (0x0B) readers.',
    action: 'Use a vendor-class reader, the installed (Isolated Web App) version, or the Node CLI.',
  },
  CCID_DEVICE_BUSY: {
    message: 'Another program or the operating system holds the reader.',
    action: 'Stop pcscd / the OS smart-card service for this reader, then retry.',
  },
  CCID_NOT_CCID: {
    message: 'This USB device is not a CCID smart-card reader.',
    action: 'Pick another device.',
  },
  CCID_BAD_DESCRIPTOR: {
    message: 'The reader sent malformed USB descriptors.',
    action: 'Re-plug the reader; if it persists the reader is not supported.',
  },
  CCID_TIMEOUT: {
    message: 'The reader did not answer in time.',
    action: 'Retry; re-insert the card or re-plug the reader if it keeps happening.',
  },
  CCID_ABORTED: { message: 'The operation was cancelled.', action: 'None.' },
  CCID_CARD_MUTE: {
    message: 'The card does not answer.',
    action: 'Re-insert the card (check its orientation).',
  },
  CCID_CARD_ABSENT: { message: 'No card in the reader.', action: 'Insert a card.' },
  CCID_READER_GONE: {
    message: 'The reader was unplugged.',
    action: 'Plug it in again and reconnect.',
  },
  CCID_BUSY: {
    message: 'The reader is busy with another command.',
    action: 'Wait for the current command to finish.',
  },
  CCID_BAD_SEQUENCE: {
    message: 'The reader answered out of sequence.',
    action: 'Re-plug the reader.',
  },
  CCID_BAD_MESSAGE: {
    message: 'The reader sent a malformed message.',
    action: 'Re-plug the reader.',
  },
  CCID_PROTOCOL: {
    message: 'Communication with the card failed (protocol error).',
    action: 'Remove and re-insert the card.',
  },
  CCID_HARDWARE_ERROR: {
    message: 'The reader reported a hardware error.',
    action: 'Re-plug the reader; try another card.',
  },
  CCID_COMMAND_FAILED: {
    message: 'The reader refused a command.',
    action: 'Retry; the reader or card may not support the operation.',
  },
  CCID_BAD_ATR: {
    message: 'The card sent an invalid answer-to-reset.',
    action: 'Re-insert the card; it may be damaged or unsupported.',
  },
  CCID_BAD_APDU: { message: 'The command is not a valid APDU.', action: 'Fix the command.' },
  CCID_APDU_TOO_LONG: {
    message: 'The command is too long for this reader or card protocol.',
    action: 'Use a reader with extended-APDU support.',
  },
  CCID_UNSUPPORTED: {
    message: 'The reader or card needs a feature this driver does not support.',
    action: 'Use another reader or card.',
  },
  CCID_NOT_POWERED: {
    message: 'The card is not powered.',
    action: 'Power the card on (reconnect).',
  },
  CCID_CLOSED: { message: 'The reader connection was closed.', action: 'Reconnect.' },
  CCID_TRANSFER_FAILED: { message: 'A USB transfer failed.', action: 'Re-plug the reader.' },
};
