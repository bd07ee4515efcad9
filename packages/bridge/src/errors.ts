/**
 * The bridge's error model: one error class with a stable `code` the bridge branches on, and
 * the `source` it came from kept untouched (the CCID driver's code, the relay's close code, a
 * VSCard or PC/SC code, or the bridge's own), so the words shown to a person
 * (@cardlend/problems) fit the original failure. Also the mapping of relay close codes
 * (RelayClose, from @cardlend/vscard) and reader errors (CcidError codes) onto bridge codes.
 * No user-facing text lives here.
 */
import type { CcidErrorCode } from '@cardlend/ccid';
import { isVscardError, RelayClose, type VscardErrorCode } from '@cardlend/vscard';

/**
 * Every bridge error code with a terse message for logs and developers (the page and the CLI
 * show the words of @cardlend/problems instead).
 */
export const BRIDGE_ERRORS = {
  BRIDGE_RELAY_UNREACHABLE: 'The relay could not be reached.',
  BRIDGE_CONNECTION_LOST: 'The connection to the relay was lost.',
  BRIDGE_RELAY_GOING_AWAY: 'The relay is restarting or shutting down.',
  BRIDGE_RELAY_CLOSED: 'The relay ended the session.',
  BRIDGE_RELAY_PROTOCOL: 'The relay sent something that is not a VSCard message.',
  BRIDGE_BAD_FRAME: 'The relay rejected a message from this page.',
  BRIDGE_MESSAGE_TOO_BIG: 'The relay rejected a message as too large.',
  BRIDGE_UNAUTHORIZED: 'The relay refused the session token.',
  BRIDGE_TOKEN_USED: 'This session token was already used.',
  BRIDGE_ORIGIN_REFUSED: 'The relay does not accept connections from this page.',
  BRIDGE_AUTH_TIMEOUT: 'The relay did not receive the session token in time.',
  BRIDGE_RATE_LIMITED: 'The relay is busy or the session sent too much too fast.',
  BRIDGE_VM_IN_USE: 'Another browser is already lending a card to this VM.',
  BRIDGE_VM_UNREACHABLE: 'The relay could not reach the VM.',
  BRIDGE_VM_CLOSED: 'The VM closed its side of the connection.',
  BRIDGE_VM_PROTOCOL: 'The VM stopped answering or spoke an unexpected protocol.',
  BRIDGE_VM_NOT_ANSWERING: 'The VM did not acknowledge a message in time.',
  BRIDGE_READER_REFUSED: 'The VM refused the reader (no free smart card slot).',
  BRIDGE_IDLE_TIMEOUT: 'The session was closed after being idle too long.',
  BRIDGE_RESUME_REFUSED: 'The relay no longer holds this lending session; it cannot be resumed.',
  BRIDGE_ATR_REFUSED: "The VM refused the card's answer-to-reset (ATR).",
  BRIDGE_CARD_MUTE: 'The card does not answer.',
  BRIDGE_CARD_ABSENT: 'No card in the reader.',
  BRIDGE_CARD_PROTOCOL: 'The card or reader broke the transmission protocol.',
  BRIDGE_READER_GONE: 'The reader was unplugged.',
  BRIDGE_READER_TIMEOUT: 'The reader did not answer in time.',
  BRIDGE_READER_BUSY: 'The reader is busy or held by another program.',
  BRIDGE_READER_ERROR: 'The reader reported a hardware error, or a USB transfer to it failed.',
  BRIDGE_READER_CLOSED: 'The connection to the reader was closed.',
  BRIDGE_UNSUPPORTED: 'This reader or card needs something the browser driver does not support.',
  BRIDGE_CARD_RESET: 'The card was removed or reset while the VM was using it.',
  BRIDGE_APDU_TOO_LONG: 'A command from the VM is too long for this reader or card protocol.',
  BRIDGE_BAD_APDU: 'A command from the VM is not a valid APDU.',
  BRIDGE_CANCELLED: 'A reader operation was cancelled.',
  BRIDGE_NO_WEBSOCKET: 'This environment has no WebSocket support.',
  BRIDGE_UNKNOWN: 'An unexpected error occurred.',
} as const satisfies Record<string, string>;

/** Stable bridge error codes; the UI branches on these, never on message text. */
export type BridgeErrorCode = keyof typeof BRIDGE_ERRORS;

/**
 * Where a bridge error came from, with its original code: a reader error (`ccid`: the CCID
 * driver's code, which every bridge reader uses; `pcsc`: the PC/SC code a PC/SC reader kept as
 * `sourceCode`), the relay closing the WebSocket (`relay-close`: its close code and reason), bytes
 * from the relay that are not VSCard (`vscard`), or something the bridge detected itself
 * (`bridge`). The same shape as `Failure` of @cardlend/problems.
 */
export type BridgeErrorSource =
  | { kind: 'ccid'; code: CcidErrorCode }
  | { kind: 'pcsc'; code: string }
  | { kind: 'relay-close'; code: number; reason?: string }
  | { kind: 'vscard'; code: VscardErrorCode }
  | { kind: 'bridge'; code: BridgeErrorCode };

const BRAND = Symbol.for('cardlend.bridge.error');

function codeOf(e: unknown): unknown {
  return typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
}

/** The source when none is given: the close code, a VSCard error as cause, else the bridge itself. */
function defaultSource(
  code: BridgeErrorCode,
  opts: { cause?: unknown; closeCode?: number },
): BridgeErrorSource {
  if (opts.closeCode !== undefined) return { kind: 'relay-close', code: opts.closeCode };
  if (isVscardError(opts.cause)) return { kind: 'vscard', code: opts.cause.code };
  return { kind: 'bridge', code };
}

/** Options of {@link BridgeError}. */
export interface BridgeErrorOptions {
  /** Log message; default the code's terse message in {@link BRIDGE_ERRORS}. */
  message?: string;
  /** The platform or driver failure, kept as the standard `cause`. */
  cause?: unknown;
  /** WebSocket close code, when the relay closed. */
  closeCode?: number;
  /** Where it came from; default derived from `closeCode`, a VSCard `cause`, else the bridge. */
  source?: BridgeErrorSource;
}

/** The bridge's one error class. Platform or driver failures ride along as `cause`. */
export class BridgeError extends Error {
  /** What the bridge does about it (reconnect, stop, report); stable. */
  readonly code: BridgeErrorCode;
  /** WebSocket close code that caused it, when it came from the relay. */
  readonly closeCode: number | undefined;
  /** The original failure and its code, never renamed (pass it to @cardlend/problems). */
  readonly source: BridgeErrorSource;
  readonly [BRAND] = true;
  override name = 'BridgeError';

  constructor(code: BridgeErrorCode, opts: BridgeErrorOptions = {}) {
    super(
      opts.message ?? BRIDGE_ERRORS[code],
      opts.cause === undefined ? undefined : { cause: opts.cause },
    );
    this.code = code;
    this.closeCode = opts.closeCode;
    this.source = opts.source ?? defaultSource(code, opts);
  }
}

/** Brand check (works when two copies of this package are bundled). */
export function isBridgeError(e: unknown): e is BridgeError {
  return typeof e === 'object' && e !== null && (e as { [BRAND]?: unknown })[BRAND] === true;
}

/** How the bridge reacts to a WebSocket close it did not ask for. */
export interface CloseClassification {
  code: BridgeErrorCode;
  /** `reconnect`: retry with backoff; `refused`: the relay said no (link `refused`); `final`: give up (link `failed`/`stopped`). */
  outcome: 'reconnect' | 'refused' | 'final';
}

const final = (code: BridgeErrorCode): CloseClassification =>
  Object.freeze({ code, outcome: 'final' });
const refused = (code: BridgeErrorCode): CloseClassification =>
  Object.freeze({ code, outcome: 'refused' });
const reconnect = (code: BridgeErrorCode): CloseClassification =>
  Object.freeze({ code, outcome: 'reconnect' });

/** What each relay close code means to the bridge (codes not listed: the connection dropped). */
const CLOSE_REACTIONS: ReadonlyMap<number, CloseClassification> = new Map([
  [RelayClose.NORMAL, final('BRIDGE_RELAY_CLOSED')],
  [RelayClose.GOING_AWAY, reconnect('BRIDGE_RELAY_GOING_AWAY')],
  [RelayClose.MESSAGE_TOO_BIG, final('BRIDGE_MESSAGE_TOO_BIG')],
  // The relay refused what this side sent; sending it again would be refused again.
  [RelayClose.BAD_FRAME, final('BRIDGE_BAD_FRAME')],
  [RelayClose.PROTOCOL_VIOLATION, final('BRIDGE_BAD_FRAME')],
  [RelayClose.UNAUTHORIZED, refused('BRIDGE_UNAUTHORIZED')],
  [RelayClose.TOKEN_USED, refused('BRIDGE_TOKEN_USED')],
  [RelayClose.ORIGIN_REFUSED, refused('BRIDGE_ORIGIN_REFUSED')],
  [RelayClose.RATE_LIMITED, reconnect('BRIDGE_RATE_LIMITED')],
  [RelayClose.VM_IN_USE, refused('BRIDGE_VM_IN_USE')],
  [RelayClose.VM_UNREACHABLE, reconnect('BRIDGE_VM_UNREACHABLE')],
  [RelayClose.VM_CLOSED, reconnect('BRIDGE_VM_CLOSED')],
  // A wedged VSCard stream survives reconnects (vscard-protocol.md §5); only the VM side can fix it.
  [RelayClose.VM_PROTOCOL, final('BRIDGE_VM_PROTOCOL')],
  [RelayClose.IDLE_TIMEOUT, final('BRIDGE_IDLE_TIMEOUT')],
  [RelayClose.AUTH_TIMEOUT, reconnect('BRIDGE_AUTH_TIMEOUT')],
  // A cluster node without its store refuses new sessions until it has it again.
  [RelayClose.CLUSTER_UNAVAILABLE, reconnect('BRIDGE_RELAY_GOING_AWAY')],
  // The helpdesk ended it on purpose (the card was removed): an orderly end, no retry.
  [RelayClose.ENDED_BY_OPERATOR, final('BRIDGE_RELAY_CLOSED')],
  // The lending machine falls back to the token once on RESUME_UNKNOWN (a restarted relay).
  [RelayClose.RESUME_EXPIRED, refused('BRIDGE_RESUME_REFUSED')],
  [RelayClose.RESUME_USED, refused('BRIDGE_RESUME_REFUSED')],
  [RelayClose.RESUME_UNKNOWN, refused('BRIDGE_RESUME_REFUSED')],
]);

/**
 * Maps a relay close code (RelayClose; RFC 6455 §7.4) to a bridge error and reaction.
 * Refusals (token, origin, VM in use, bad frame) never reconnect: retrying would only be
 * refused again. 1006 (no close frame: network drop, relay crash), anything unknown and the
 * VM-side closes reconnect.
 */
export function classifyClose(closeCode: number, wasOpen: boolean): CloseClassification {
  return (
    CLOSE_REACTIONS.get(closeCode) ??
    reconnect(wasOpen ? 'BRIDGE_CONNECTION_LOST' : 'BRIDGE_RELAY_UNREACHABLE')
  );
}

/**
 * Every CCID driver code (CcidError.code in @cardlend/ccid) → bridge code. A Record over the
 * driver's union, so a code added to the driver fails to compile here until it is mapped.
 */
export const CCID_TO_BRIDGE = {
  // Card
  CCID_CARD_MUTE: 'BRIDGE_CARD_MUTE',
  CCID_CARD_ABSENT: 'BRIDGE_CARD_ABSENT',
  // transmit() after the card was pulled or reset (slot no longer powered).
  CCID_NOT_POWERED: 'BRIDGE_CARD_RESET',
  CCID_BAD_ATR: 'BRIDGE_CARD_PROTOCOL',
  CCID_PROTOCOL: 'BRIDGE_CARD_PROTOCOL',
  // The reader answered out of sequence, malformed, or refused the command: a broken exchange
  // with the card; re-inserting / re-plugging is the remedy for all of them.
  CCID_BAD_SEQUENCE: 'BRIDGE_CARD_PROTOCOL',
  CCID_BAD_MESSAGE: 'BRIDGE_CARD_PROTOCOL',
  CCID_COMMAND_FAILED: 'BRIDGE_CARD_PROTOCOL',
  // Guest command
  CCID_APDU_TOO_LONG: 'BRIDGE_APDU_TOO_LONG',
  CCID_BAD_APDU: 'BRIDGE_BAD_APDU',
  // Reader
  CCID_READER_GONE: 'BRIDGE_READER_GONE',
  CCID_CLOSED: 'BRIDGE_READER_CLOSED',
  CCID_TIMEOUT: 'BRIDGE_READER_TIMEOUT',
  CCID_BUSY: 'BRIDGE_READER_BUSY',
  CCID_DEVICE_BUSY: 'BRIDGE_READER_BUSY',
  CCID_HARDWARE_ERROR: 'BRIDGE_READER_ERROR',
  CCID_TRANSFER_FAILED: 'BRIDGE_READER_ERROR',
  CCID_PROTECTED_CLASS: 'BRIDGE_UNSUPPORTED',
  CCID_NOT_CCID: 'BRIDGE_UNSUPPORTED',
  CCID_BAD_DESCRIPTOR: 'BRIDGE_UNSUPPORTED',
  CCID_UNSUPPORTED: 'BRIDGE_UNSUPPORTED',
  CCID_ABORTED: 'BRIDGE_CANCELLED',
} as const satisfies Readonly<Record<CcidErrorCode, BridgeErrorCode>>;

function isCcidCode(code: string): code is CcidErrorCode {
  return Object.hasOwn(CCID_TO_BRIDGE, code);
}

/**
 * Bridge codes after which the reader object can no longer be used (unplugged, or closed
 * under the bridge): lending stops.
 */
export function isReaderLost(
  code: BridgeErrorCode,
): code is 'BRIDGE_READER_GONE' | 'BRIDGE_READER_CLOSED' {
  return code === 'BRIDGE_READER_GONE' || code === 'BRIDGE_READER_CLOSED';
}

/**
 * Wraps anything a reader call threw into a BridgeError (the original as `cause`). Reads
 * `code` structurally, so it works on CcidError without a hard dependency on its class. The
 * source keeps the reader's own code: a PC/SC reader's `sourceCode` (`SCARD_…`) when it has
 * one, else the CCID code.
 */
export function bridgeErrorFromReader(e: unknown): BridgeError {
  if (isBridgeError(e)) return e;
  const ccidCode = codeOf(e);
  if (typeof ccidCode !== 'string' || !isCcidCode(ccidCode))
    return new BridgeError('BRIDGE_UNKNOWN', { cause: e });
  const pcscCode = (e as { sourceCode?: unknown }).sourceCode;
  const source: BridgeErrorSource =
    typeof pcscCode === 'string' && pcscCode.startsWith('SCARD_')
      ? { kind: 'pcsc', code: pcscCode }
      : { kind: 'ccid', code: ccidCode };
  return new BridgeError(CCID_TO_BRIDGE[ccidCode], { cause: e, source });
}

/** The plain `{ code, message, source }` for state and UI (no stack, no cause). */
export function toErrorInfo(e: BridgeError): {
  code: BridgeErrorCode;
  message: string;
  source: BridgeErrorSource;
} {
  return { code: e.code, message: e.message, source: e.source };
}
