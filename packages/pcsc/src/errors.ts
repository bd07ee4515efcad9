/**
 * The single error class of @cardlend/pcsc. Every failure carries two codes:
 * - `code`: the reader-level meaning in the CCID driver's vocabulary (`CCID_CARD_ABSENT`,
 *   `CCID_READER_GONE`, …), which the bridge maps (`bridgeErrorFromReader` reads `code`
 *   structurally), so a PC/SC reader and a WebUSB reader fail the same way for the bridge;
 * - `sourceCode`: the original PC/SC return code by its standard name (`SCARD_E_NO_SERVICE`,
 *   `SCARD_W_REMOVED_CARD`, …), for precise user-facing text and logs.
 * `bindingCode` keeps the binding's own raw code (pcsc-mini: `NoService`, `RemovedCard`, …).
 */
import type { CcidErrorCode } from '@cardlend/ccid';

/** Standard PC/SC return codes (pcsc-lite / WinSCard names) this package knows. */
export const PCSC_CODES = [
  'SCARD_E_BAD_SEEK',
  'SCARD_E_CANCELLED',
  'SCARD_E_CANT_DISPOSE',
  'SCARD_E_CARD_UNSUPPORTED',
  'SCARD_E_CERTIFICATE_UNAVAILABLE',
  'SCARD_E_COMM_DATA_LOST',
  'SCARD_E_DIR_NOT_FOUND',
  'SCARD_E_DUPLICATE_READER',
  'SCARD_E_FILE_NOT_FOUND',
  'SCARD_E_ICC_CREATEORDER',
  'SCARD_E_ICC_INSTALLATION',
  'SCARD_E_INSUFFICIENT_BUFFER',
  'SCARD_E_INVALID_ATR',
  'SCARD_E_INVALID_CHV',
  'SCARD_E_INVALID_HANDLE',
  'SCARD_E_INVALID_PARAMETER',
  'SCARD_E_INVALID_TARGET',
  'SCARD_E_INVALID_VALUE',
  'SCARD_E_NO_ACCESS',
  'SCARD_E_NO_DIR',
  'SCARD_E_NO_FILE',
  'SCARD_E_NO_KEY_CONTAINER',
  'SCARD_E_NO_MEMORY',
  'SCARD_E_NO_READERS_AVAILABLE',
  'SCARD_E_NO_SERVICE',
  'SCARD_E_NO_SMARTCARD',
  'SCARD_E_NO_SUCH_CERTIFICATE',
  'SCARD_E_NOT_READY',
  'SCARD_E_NOT_TRANSACTED',
  'SCARD_E_PCI_TOO_SMALL',
  'SCARD_E_PROTO_MISMATCH',
  'SCARD_E_READER_UNAVAILABLE',
  'SCARD_E_READER_UNSUPPORTED',
  'SCARD_E_SERVER_TOO_BUSY',
  'SCARD_E_SERVICE_STOPPED',
  'SCARD_E_SHARING_VIOLATION',
  'SCARD_E_SYSTEM_CANCELLED',
  'SCARD_E_TIMEOUT',
  'SCARD_E_UNEXPECTED',
  'SCARD_E_UNKNOWN_CARD',
  'SCARD_E_UNKNOWN_READER',
  'SCARD_E_UNKNOWN_RES_MNG',
  'SCARD_E_UNSUPPORTED_FEATURE',
  'SCARD_E_WRITE_TOO_MANY',
  'SCARD_F_COMM_ERROR',
  'SCARD_F_INTERNAL_ERROR',
  'SCARD_F_UNKNOWN_ERROR',
  'SCARD_F_WAITED_TOO_LONG',
  'SCARD_P_SHUTDOWN',
  'SCARD_W_CANCELLED_BY_USER',
  'SCARD_W_CARD_NOT_AUTHENTICATED',
  'SCARD_W_CHV_BLOCKED',
  'SCARD_W_EOF',
  'SCARD_W_REMOVED_CARD',
  'SCARD_W_RESET_CARD',
  'SCARD_W_SECURITY_VIOLATION',
  'SCARD_W_UNPOWERED_CARD',
  'SCARD_W_UNRESPONSIVE_CARD',
  'SCARD_W_UNSUPPORTED_CARD',
  'SCARD_W_WRONG_CHV',
] as const;

/** A standard PC/SC return code name. */
export type PcscCode = (typeof PCSC_CODES)[number];

/** The reader-level codes a PcscError can carry (a subset of the CCID driver's codes). */
export type PcscErrorCode = Extract<
  CcidErrorCode,
  | 'CCID_CARD_ABSENT'
  | 'CCID_NOT_POWERED'
  | 'CCID_CARD_MUTE'
  | 'CCID_READER_GONE'
  | 'CCID_CLOSED'
  | 'CCID_DEVICE_BUSY'
  | 'CCID_BUSY'
  | 'CCID_TIMEOUT'
  | 'CCID_ABORTED'
  | 'CCID_PROTOCOL'
  | 'CCID_BAD_ATR'
  | 'CCID_BAD_APDU'
  | 'CCID_APDU_TOO_LONG'
  | 'CCID_UNSUPPORTED'
  | 'CCID_TRANSFER_FAILED'
>;

/**
 * PC/SC code → reader-level code. Chosen by what the bridge must do:
 * - card gone (`CCID_CARD_ABSENT`) or reset under us (`CCID_NOT_POWERED`: power on again);
 * - reader gone for good (`CCID_READER_GONE`: the bridge stops lending);
 * - the service down or restarting (`SCARD_E_NO_SERVICE`…) is NOT "reader gone": the context
 *   is re-established and the reader comes back, so it maps to `CCID_TRANSFER_FAILED`;
 * - another program holds the card (`SCARD_E_SHARING_VIOLATION`) → `CCID_DEVICE_BUSY`.
 * Codes not listed map to `CCID_TRANSFER_FAILED`.
 */
export const PCSC_TO_CCID: Readonly<Partial<Record<PcscCode, PcscErrorCode>>> = {
  SCARD_W_REMOVED_CARD: 'CCID_CARD_ABSENT',
  SCARD_E_NO_SMARTCARD: 'CCID_CARD_ABSENT',
  SCARD_W_RESET_CARD: 'CCID_NOT_POWERED',
  SCARD_W_UNPOWERED_CARD: 'CCID_NOT_POWERED',
  SCARD_E_INVALID_HANDLE: 'CCID_NOT_POWERED',
  SCARD_W_UNRESPONSIVE_CARD: 'CCID_CARD_MUTE',
  SCARD_E_UNKNOWN_READER: 'CCID_READER_GONE',
  SCARD_E_READER_UNAVAILABLE: 'CCID_READER_GONE',
  SCARD_E_NO_READERS_AVAILABLE: 'CCID_READER_GONE',
  SCARD_E_SHARING_VIOLATION: 'CCID_DEVICE_BUSY',
  SCARD_E_SERVER_TOO_BUSY: 'CCID_BUSY',
  SCARD_E_TIMEOUT: 'CCID_TIMEOUT',
  SCARD_F_WAITED_TOO_LONG: 'CCID_TIMEOUT',
  SCARD_E_CANCELLED: 'CCID_ABORTED',
  SCARD_E_SYSTEM_CANCELLED: 'CCID_ABORTED',
  SCARD_W_CANCELLED_BY_USER: 'CCID_ABORTED',
  SCARD_E_PROTO_MISMATCH: 'CCID_PROTOCOL',
  SCARD_E_INVALID_ATR: 'CCID_BAD_ATR',
  SCARD_E_UNKNOWN_CARD: 'CCID_UNSUPPORTED',
  SCARD_E_CARD_UNSUPPORTED: 'CCID_UNSUPPORTED',
  SCARD_W_UNSUPPORTED_CARD: 'CCID_UNSUPPORTED',
  SCARD_E_READER_UNSUPPORTED: 'CCID_UNSUPPORTED',
  SCARD_E_UNSUPPORTED_FEATURE: 'CCID_UNSUPPORTED',
  SCARD_E_INVALID_PARAMETER: 'CCID_BAD_APDU',
  SCARD_E_INVALID_VALUE: 'CCID_BAD_APDU',
  SCARD_E_INSUFFICIENT_BUFFER: 'CCID_APDU_TOO_LONG',
};

/** PC/SC codes after which the context is dead and must be established again. */
export const SERVICE_LOST_CODES: ReadonlySet<PcscCode> = new Set<PcscCode>([
  'SCARD_E_NO_SERVICE',
  'SCARD_E_SERVICE_STOPPED',
  'SCARD_F_COMM_ERROR',
  'SCARD_P_SHUTDOWN',
  'SCARD_E_INVALID_HANDLE',
]);

const BRAND = Symbol.for('@cardlend/pcsc.PcscError');

/** Options of {@link PcscError}. */
export interface PcscErrorOptions {
  /** Reader-level code; default from {@link PCSC_TO_CCID}. */
  code?: PcscErrorCode;
  /** The binding's raw code (pcsc-mini's `NoService`, …). */
  bindingCode?: string;
  /** The reader the operation was for. */
  reader?: string;
  cause?: unknown;
}

/** Error raised by every part of @cardlend/pcsc. Use {@link isPcscError} rather than `instanceof`. */
export class PcscError extends Error {
  /** Reader-level meaning (CCID driver vocabulary), what the bridge branches on. */
  readonly code: PcscErrorCode;
  /** The original PC/SC return code, e.g. `SCARD_E_NO_SERVICE`. */
  readonly sourceCode: PcscCode;
  /** The binding's own raw code, when the failure came from the binding. */
  readonly bindingCode: string | undefined;
  readonly reader: string | undefined;
  readonly [BRAND] = true;
  override name = 'PcscError';

  constructor(sourceCode: PcscCode, message: string, opts: PcscErrorOptions = {}) {
    super(
      `${message} (${sourceCode})`,
      opts.cause === undefined ? undefined : { cause: opts.cause },
    );
    this.sourceCode = sourceCode;
    this.code = opts.code ?? PCSC_TO_CCID[sourceCode] ?? 'CCID_TRANSFER_FAILED';
    this.bindingCode = opts.bindingCode;
    this.reader = opts.reader;
  }
}

/** Brand check that works across duplicated bundles. */
export function isPcscError(e: unknown): e is PcscError {
  return typeof e === 'object' && e !== null && (e as { [BRAND]?: unknown })[BRAND] === true;
}

/** True when the failure means the PC/SC context is gone (service stopped or restarted). */
export function isServiceLost(e: unknown): boolean {
  return isPcscError(e) && SERVICE_LOST_CODES.has(e.sourceCode);
}

/** True for a standard PC/SC code name. */
export function isPcscCode(s: string): s is PcscCode {
  return (PCSC_CODES as readonly string[]).includes(s);
}
