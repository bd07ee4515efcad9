import { CcidBError, CcidFeature, IccStatus } from './constants.ts';
import type { CcidClassDescriptor } from './descriptors.ts';
import { CcidError } from './errors.ts';
import type { CcidResponse } from './messages.ts';
import { cardAbsentError } from './reader-errors.ts';

/** bPowerSelect values (CCID rev 1.1 §6.1.1): 0 automatic, 1 5 V, 2 3 V, 3 1.8 V. */
export type PowerSelect = 0 | 1 | 2 | 3;

/** libccid's order when the host chooses: 5 V, 1.8 V, 3 V (ccid.md §6.3). */
const LIBCCID_ORDER: readonly PowerSelect[] = [1, 3, 2];
/** bVoltageSupport bit of each bPowerSelect: bit0 5 V, bit1 3 V, bit2 1.8 V. */
const SUPPORT_BIT: Record<1 | 2 | 3, number> = { 1: 1, 2: 2, 3: 4 };

/**
 * The bPowerSelect values to try, in order (ccid.md §6.3): automatic (0) alone when the reader
 * has automatic voltage selection (0x08) or activation (0x04); otherwise 5 V, 1.8 V, 3 V with the
 * classes the reader announces in bVoltageSupport first.
 */
export function voltageSequence(d: CcidClassDescriptor): PowerSelect[] {
  if (d.dwFeatures & (CcidFeature.AutoVoltage | CcidFeature.AutoActivation)) return [0];
  const supported = LIBCCID_ORDER.filter((v) => d.bVoltageSupport & SUPPORT_BIT[v as 1 | 2 | 3]);
  if (supported.length === 0) return [...LIBCCID_ORDER];
  return [...supported, ...LIBCCID_ORDER.filter((v) => !supported.includes(v))];
}

/** Options of {@link PowerOnSequence}. */
export interface PowerOnSequenceOptions {
  descriptor: CcidClassDescriptor;
  slot: number;
  /** IccPowerOn repeats when the reader answers BUSY_WITH_AUTO_SEQUENCE. Default 3. */
  maxBusyRetries?: number;
}

/** What the power-on sequence wants next. */
export type PowerOnStep = PowerOnSend | { type: 'atr'; atr: Uint8Array };
/** Send IccPowerOn with this bPowerSelect. */
export interface PowerOnSend {
  type: 'send';
  powerSelect: PowerSelect;
}

/**
 * IccPowerOn with voltage fallback (ccid.md §6.3, libccid `CmdPowerOn()`): pure, `start()` then
 * `onResponse()` per DataBlock until 'atr'. Throws CcidError: CCID_CARD_ABSENT (bmICCStatus 2),
 * CCID_HARDWARE_ERROR (bError HW_ERROR), CCID_CARD_MUTE (every voltage ended in ICC_MUTE),
 * CCID_COMMAND_FAILED (any other bError after the last voltage).
 */
export class PowerOnSequence {
  readonly #selects: PowerSelect[];
  readonly #slot: number;
  readonly #maxBusyRetries: number;
  #at = 0;
  #busyRetries = 0;

  constructor(opts: PowerOnSequenceOptions) {
    this.#selects = voltageSequence(opts.descriptor);
    this.#slot = opts.slot;
    this.#maxBusyRetries = opts.maxBusyRetries ?? 3;
  }

  start(): PowerOnSend {
    return { type: 'send', powerSelect: this.#selects[0]! };
  }

  /** Feeds the reader's answer to the last IccPowerOn. */
  onResponse(r: CcidResponse): PowerOnStep {
    if (r.commandStatus === 0 && r.data.length > 0) return { type: 'atr', atr: r.data.slice() };
    if (r.iccStatus === IccStatus.Absent) throw cardAbsentError(this.#slot);
    if (
      r.bError === CcidBError.BUSY_WITH_AUTO_SEQUENCE &&
      this.#busyRetries++ < this.#maxBusyRetries
    )
      return { type: 'send', powerSelect: this.#selects[this.#at]! };
    if (r.bError === CcidBError.HW_ERROR)
      throw new CcidError('CCID_HARDWARE_ERROR', 'reader hardware error on power on', {
        bError: r.bError,
      });
    if (++this.#at < this.#selects.length)
      return { type: 'send', powerSelect: this.#selects[this.#at]! };
    if (r.bError === CcidBError.ICC_MUTE)
      throw new CcidError('CCID_CARD_MUTE', 'the card gives no ATR', { bError: r.bError });
    throw new CcidError(
      'CCID_COMMAND_FAILED',
      `IccPowerOn failed, bError 0x${r.bError.toString(16)}`,
      {
        bError: r.bError,
      },
    );
  }
}
