/**
 * Retrying a failed power on while the card is still in the slot: another program briefly
 * holding the card (PC/SC `SCARD_E_SHARING_VIOLATION`), a reader that did not answer in time,
 * a card whose contacts had not settled. Without it the VM is left with a reader and no card
 * until the card is pulled and inserted again.
 *
 * The rule, in one place:
 * - which failures are worth another try: {@link POWER_ON_FAILURE_HEALS} (by bridge code);
 * - how often and when: {@link POWER_ON_RETRY_DELAYS_MS}, after each failed attempt;
 * - only while lending runs and for the same card: a card removed (or a hardware error), a new
 *   card inserted, the reader gone, stop() or lending ending cancel the pending retry.
 *
 * While a retry is pending or running, `state.powerOnRetry` says so (with the last failure) and
 * `state.error` is left alone; when the last attempt fails the failure becomes `state.error`, as
 * without retries. Pure: the wait is the machine's `power-on` timer.
 */
import type { CcidErrorCode } from '@cardlend/ccid';
import { toErrorInfo } from '../errors.ts';
import type { BridgeError, BridgeErrorCode, CCID_TO_BRIDGE } from '../errors.ts';
import type { MachineCore } from './core.ts';

/**
 * Waits before the 1st, 2nd and 3rd retry, ms: three retries, the last attempt about 3.5 s
 * after the first failure (a PC/SC transaction of another program, a reader's slow answer, a
 * card pushed in slowly all end well within that).
 */
export const POWER_ON_RETRY_DELAYS_MS: readonly number[] = Object.freeze([500, 1000, 2000]);

/** The bridge codes a failed power on can have: every reader code's, or an unexpected result. */
type PowerOnFailureCode = (typeof CCID_TO_BRIDGE)[CcidErrorCode] | 'BRIDGE_UNKNOWN';

/**
 * Whether a power on that failed with this code may succeed when tried again on the same card
 * (a reader code added to the driver does not compile until it is decided here).
 */
const POWER_ON_FAILURE_HEALS: Readonly<Record<PowerOnFailureCode, boolean>> = {
  // Another program holds the card or the reader (SCARD_E_SHARING_VIOLATION), one call in flight.
  BRIDGE_READER_BUSY: true,
  // The reader did not answer in time (CCID_TIMEOUT, SCARD_E_TIMEOUT).
  BRIDGE_READER_TIMEOUT: true,
  // A USB transfer failed, the reader reported a hardware error, or the PC/SC service restarts.
  BRIDGE_READER_ERROR: true,
  // No answer to reset: contacts not settled yet (SCARD_W_UNRESPONSIVE_CARD).
  BRIDGE_CARD_MUTE: true,
  // Another program reset the card meanwhile (SCARD_W_RESET_CARD): power it on again.
  BRIDGE_CARD_RESET: true,
  // Lending stops (reader unplugged or closed); a pulled card is powered on at its next insert.
  BRIDGE_READER_GONE: false,
  BRIDGE_READER_CLOSED: false,
  BRIDGE_CARD_ABSENT: false,
  // The card's ATR or protocol, or what the driver supports: the same card fails the same way.
  BRIDGE_CARD_PROTOCOL: false,
  BRIDGE_UNSUPPORTED: false,
  // Cancelled by the system (log off, shut down), not by the bridge.
  BRIDGE_CANCELLED: false,
  // Codes of a guest command, and a result that is not `{ atr, protocol }`: a broken reader.
  BRIDGE_APDU_TOO_LONG: false,
  BRIDGE_BAD_APDU: false,
  BRIDGE_UNKNOWN: false,
};

/** Whether a power on that failed with `code` is tried again (see the module comment). */
function isPowerOnFailureTransient(code: BridgeErrorCode): boolean {
  return Object.hasOwn(POWER_ON_FAILURE_HEALS, code)
    ? POWER_ON_FAILURE_HEALS[code as PowerOnFailureCode]
    : false;
}

/** The retries of one card's power on (the card track's generation tells cards apart). */
export class PowerOnRetries {
  readonly #core: MachineCore;
  /** Retries made for the card being powered. */
  #used = 0;
  /** The armed retry: for which card generation. */
  #armedFor: number | null = null;

  constructor(core: MachineCore) {
    this.#core = core;
  }

  /** A first power on of a (new) card: a full set of retries, any pending one cancelled. */
  fresh(): void {
    this.cancel();
    this.#used = 0;
  }

  /** Arms the next retry after `error` if it may heal and retries are left; false otherwise. */
  schedule(error: BridgeError, generation: number): boolean {
    const core = this.#core;
    const delayMs = POWER_ON_RETRY_DELAYS_MS[this.#used];
    if (!core.isRunning || delayMs === undefined || !isPowerOnFailureTransient(error.code)) {
      return false;
    }
    const nextAtMs = core.nowMs + delayMs;
    const attempt = this.#used + 1;
    this.#armedFor = generation;
    core.emit({ type: 'arm-timer', timer: 'power-on', atMs: nextAtMs });
    const maxAttempts = POWER_ON_RETRY_DELAYS_MS.length;
    core.setState({ powerOnRetry: { attempt, maxAttempts, nextAtMs, error: toErrorInfo(error) } });
    core.log('info', 'power on failed; retrying', { code: error.code, attempt, delayMs });
    return true;
  }

  /** The `power-on` timer fired: true when the retry is still due for card `generation`. */
  fire(generation: number): boolean {
    const armedFor = this.#armedFor;
    this.#armedFor = null;
    if (armedFor !== generation || !this.#core.isRunning) return false;
    this.#used++;
    return true;
  }

  /**
   * Cancels a pending retry (card gone, reader gone, stopping, ended) and clears
   * `state.powerOnRetry`; callers that set the state anyway pass `powerOnRetry: undefined`.
   */
  cancel(): void {
    if (this.#armedFor !== null) {
      this.#armedFor = null;
      this.#core.emit({ type: 'cancel-timer', timer: 'power-on' });
    }
    if (this.#core.state.powerOnRetry !== undefined)
      this.#core.setState({ powerOnRetry: undefined });
  }
}
