/**
 * The bridge's error model: one error class with a stable `code`, a catalog the UI maps
 * to plain-language text, and the mapping of relay close codes (RelayClose, from
 * @cardlend/vscard) and CCID driver errors (CcidError codes) onto it.
 */
import type { CcidErrorCode } from '@cardlend/ccid';
import { RelayClose } from '@cardlend/vscard';

/**
 * Every bridge error code with a one-line message and what the person lending the card can
 * do. `isRetryable` tells whether the bridge reconnects by itself after a relay close with
 * this meaning.
 */
export const BRIDGE_ERRORS = {
  BRIDGE_RELAY_UNREACHABLE: {
    message: 'The relay could not be reached.',
    action: 'Check the relay address and your network; the bridge keeps retrying for a while.',
  },
  BRIDGE_CONNECTION_LOST: {
    message: 'The connection to the relay was lost.',
    action: 'Nothing to do: the bridge reconnects and announces the card again.',
  },
  BRIDGE_RELAY_GOING_AWAY: {
    message: 'The relay is restarting or shutting down.',
    action: 'Nothing to do: the bridge reconnects when the relay is back.',
  },
  BRIDGE_RELAY_CLOSED: {
    message: 'The relay ended the session.',
    action: 'Start lending again if you still need the card in the VM.',
  },
  BRIDGE_RELAY_PROTOCOL: {
    message: 'The relay sent something that is not a VSCard message.',
    action: 'Check that the address points to a cardlend relay of the same version.',
  },
  BRIDGE_BAD_FRAME: {
    message: 'The relay rejected a message from this page.',
    action: 'Reload the page; report it if it happens again.',
  },
  BRIDGE_MESSAGE_TOO_BIG: {
    message: 'The relay rejected a message as too large.',
    action: 'Reload the page; report it if it happens again.',
  },
  BRIDGE_UNAUTHORIZED: {
    message: 'The relay refused the session token.',
    action: 'Ask your helpdesk for a fresh link, or check the token.',
  },
  BRIDGE_TOKEN_USED: {
    message: 'This session token was already used.',
    action: 'Ask your helpdesk for a fresh link.',
  },
  BRIDGE_ORIGIN_REFUSED: {
    message: 'The relay does not accept connections from this page.',
    action: 'Open the page served by the relay itself, or ask the operator to allow this origin.',
  },
  BRIDGE_AUTH_TIMEOUT: {
    message: 'The relay did not receive the session token in time.',
    action: 'Check your network and try again.',
  },
  BRIDGE_RATE_LIMITED: {
    message: 'The relay is busy or the session sent too much too fast.',
    action: 'Wait a moment; the bridge retries by itself.',
  },
  BRIDGE_VM_IN_USE: {
    message: 'Another browser is already lending a card to this VM.',
    action: 'Stop lending in the other tab or browser, then try again.',
  },
  BRIDGE_VM_UNREACHABLE: {
    message: 'The relay could not reach the VM.',
    action: 'Check that the VM is running; the bridge retries by itself.',
  },
  BRIDGE_VM_CLOSED: {
    message: 'The VM closed its side of the connection.',
    action: 'The bridge retries; if the VM was shut down, start it again.',
  },
  BRIDGE_VM_PROTOCOL: {
    message: 'The VM stopped answering or spoke an unexpected protocol.',
    action: 'Ask the VM operator to re-plug the virtual card device or restart the VM.',
  },
  BRIDGE_VM_NOT_ANSWERING: {
    message: 'The VM did not acknowledge a message in time.',
    action: 'Ask the VM operator to re-plug the virtual card device or restart the VM.',
  },
  BRIDGE_READER_REFUSED: {
    message: 'The VM refused the reader (no free smart card slot).',
    action: 'Ask the VM operator to add a passthrough smart card device.',
  },
  BRIDGE_IDLE_TIMEOUT: {
    message: 'The session was closed after being idle too long.',
    action: 'Start lending again when you need the card.',
  },
  BRIDGE_ATR_REFUSED: {
    message: "The VM refused the card's answer-to-reset (ATR).",
    action: 'Try the QEMU 7.2 compatibility option, or a different card.',
  },
  BRIDGE_CARD_MUTE: {
    message: 'The card does not answer.',
    action: 'Remove the card, check its orientation and contacts, and insert it again.',
  },
  BRIDGE_CARD_ABSENT: {
    message: 'No card in the reader.',
    action: 'Insert the card.',
  },
  BRIDGE_CARD_PROTOCOL: {
    message: 'The card or reader broke the transmission protocol.',
    action: 'Remove and re-insert the card; try another reader if it persists.',
  },
  BRIDGE_READER_GONE: {
    message: 'The reader was unplugged.',
    action: 'Plug the reader in again and choose it.',
  },
  BRIDGE_READER_TIMEOUT: {
    message: 'The reader did not answer in time.',
    action: 'Unplug and replug the reader.',
  },
  BRIDGE_READER_BUSY: {
    message: 'The reader is busy or held by another program.',
    action: 'Close other smart-card software (pcscd, the OS smart card service) and try again.',
  },
  BRIDGE_READER_ERROR: {
    message: 'The reader reported a hardware error, or a USB transfer to it failed.',
    action: 'Unplug and replug the reader; try another reader if it persists.',
  },
  BRIDGE_READER_CLOSED: {
    message: 'The connection to the reader was closed.',
    action: 'Choose the reader again and start lending.',
  },
  BRIDGE_UNSUPPORTED: {
    message: 'This reader or card needs something the browser driver does not support.',
    action: 'Use another reader (a vendor-class one in a normal browser page) or another card.',
  },
  BRIDGE_CARD_RESET: {
    message: 'The card was removed or reset while the VM was using it.',
    action: 'Nothing to do: the card is announced to the VM again once it is powered.',
  },
  BRIDGE_APDU_TOO_LONG: {
    message: 'A command from the VM is too long for this reader or card protocol.',
    action: 'Use a reader with extended-APDU support.',
  },
  BRIDGE_BAD_APDU: {
    message: 'A command from the VM is not a valid APDU.',
    action: 'Nothing to do here: the VM application gets an error status for it.',
  },
  BRIDGE_CANCELLED: {
    message: 'A reader operation was cancelled.',
    action: 'None: this happens when lending stops during a command.',
  },
  BRIDGE_NO_WEBSOCKET: {
    message: 'This environment has no WebSocket support.',
    action: 'Use a current browser.',
  },
  BRIDGE_UNKNOWN: {
    message: 'An unexpected error occurred.',
    action: 'Stop lending and start again; report it if it happens again.',
  },
} as const satisfies Record<string, { message: string; action: string }>;

/** Stable bridge error codes; the UI branches on these, never on message text. */
export type BridgeErrorCode = keyof typeof BRIDGE_ERRORS;

const BRAND = Symbol.for('cardlend.bridge.error');

/** The bridge's one error class. Platform or driver failures ride along as `cause`. */
export class BridgeError extends Error {
  readonly code: BridgeErrorCode;
  /** WebSocket close code that caused it, when it came from the relay. */
  readonly closeCode: number | undefined;
  readonly [BRAND] = true;
  override name = 'BridgeError';

  constructor(
    code: BridgeErrorCode,
    opts: { message?: string; cause?: unknown; closeCode?: number } = {},
  ) {
    super(
      opts.message ?? BRIDGE_ERRORS[code].message,
      opts.cause === undefined ? undefined : { cause: opts.cause },
    );
    this.code = code;
    this.closeCode = opts.closeCode;
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

/**
 * Maps a relay close code (RelayClose; RFC 6455 §7.4) to a bridge error and reaction.
 * Refusals (token, origin, VM in use, bad frame) never reconnect: retrying would only be
 * refused again. 1006 (no close frame: network drop, relay crash) and the VM-side
 * closes reconnect.
 */
export function classifyClose(closeCode: number, wasOpen: boolean): CloseClassification {
  switch (closeCode) {
    case RelayClose.NORMAL:
      return { code: 'BRIDGE_RELAY_CLOSED', outcome: 'final' };
    case RelayClose.GOING_AWAY:
      return { code: 'BRIDGE_RELAY_GOING_AWAY', outcome: 'reconnect' };
    case RelayClose.MESSAGE_TOO_BIG:
      return { code: 'BRIDGE_MESSAGE_TOO_BIG', outcome: 'final' };
    case RelayClose.BAD_FRAME:
      return { code: 'BRIDGE_BAD_FRAME', outcome: 'final' };
    case RelayClose.UNAUTHORIZED:
      return { code: 'BRIDGE_UNAUTHORIZED', outcome: 'refused' };
    case RelayClose.TOKEN_USED:
      return { code: 'BRIDGE_TOKEN_USED', outcome: 'refused' };
    case RelayClose.ORIGIN_REFUSED:
      return { code: 'BRIDGE_ORIGIN_REFUSED', outcome: 'refused' };
    case RelayClose.RATE_LIMITED:
      return { code: 'BRIDGE_RATE_LIMITED', outcome: 'reconnect' };
    case RelayClose.VM_IN_USE:
      return { code: 'BRIDGE_VM_IN_USE', outcome: 'refused' };
    case RelayClose.VM_UNREACHABLE:
      return { code: 'BRIDGE_VM_UNREACHABLE', outcome: 'reconnect' };
    case RelayClose.VM_CLOSED:
      return { code: 'BRIDGE_VM_CLOSED', outcome: 'reconnect' };
    case RelayClose.VM_PROTOCOL:
      // A wedged VSCard stream survives reconnects (vscard-protocol.md §5); only the VM side can fix it.
      return { code: 'BRIDGE_VM_PROTOCOL', outcome: 'final' };
    case RelayClose.IDLE_TIMEOUT:
      return { code: 'BRIDGE_IDLE_TIMEOUT', outcome: 'final' };
    case RelayClose.AUTH_TIMEOUT:
      return { code: 'BRIDGE_AUTH_TIMEOUT', outcome: 'reconnect' };
    default:
      // 1006 and anything unknown: the connection dropped (or never opened).
      return {
        code: wasOpen ? 'BRIDGE_CONNECTION_LOST' : 'BRIDGE_RELAY_UNREACHABLE',
        outcome: 'reconnect',
      };
  }
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
 * `code` structurally, so it works on CcidError without a hard dependency on its class.
 */
export function bridgeErrorFromReader(e: unknown): BridgeError {
  if (isBridgeError(e)) return e;
  const ccidCode = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  const code: BridgeErrorCode =
    typeof ccidCode === 'string' && isCcidCode(ccidCode)
      ? CCID_TO_BRIDGE[ccidCode]
      : 'BRIDGE_UNKNOWN';
  return new BridgeError(code, { cause: e });
}

/** The plain `{ code, message }` pair for state and UI (no stack, no cause). */
export function toErrorInfo(e: BridgeError): { code: BridgeErrorCode; message: string } {
  return { code: e.code, message: e.message };
}
