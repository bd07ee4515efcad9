import { CcidBError, IccStatus } from './constants.ts';
import type { XfrPayloadKind } from './descriptors.ts';
import { maxXfrBlockDataBytes } from './descriptors.ts';
import { CcidError, isCcidError } from './errors.ts';
import type { CcidResponse } from './messages.ts';

/** Slot state as GetSlotStatus reports it (bmICCStatus, CCID rev 1.1 §6.2.6). */
export type SlotStatus = 'active' | 'inactive' | 'absent';

/** bmICCStatus → slot state. */
export function slotStatusOf(r: Pick<CcidResponse, 'iccStatus'>): SlotStatus {
  return r.iccStatus === IccStatus.Active
    ? 'active'
    : r.iccStatus === IccStatus.Inactive
      ? 'inactive'
      : 'absent';
}

/** The error for "no card in the slot" (bmICCStatus 2, or pulled during the command). */
export function cardAbsentError(slot: number): CcidError {
  return new CcidError('CCID_CARD_ABSENT', `no card in slot ${slot}`, {
    bError: CcidBError.ICC_MUTE,
  });
}

/**
 * Maps a failed XfrBlock answer (bmCommandStatus 1) to the error the caller sees (libccid
 * `CCID_Receive()` / ccid.md §6.2): card absent, card mute, reader hardware error, slot busy,
 * otherwise CCID_COMMAND_FAILED with the bError.
 */
export function xfrBlockError(r: CcidResponse, slot: number): CcidError {
  if (r.iccStatus === IccStatus.Absent) return cardAbsentError(slot);
  const bError = r.bError;
  if (bError === CcidBError.ICC_MUTE)
    return new CcidError('CCID_CARD_MUTE', 'the card does not answer', { bError });
  if (bError === CcidBError.HW_ERROR)
    return new CcidError('CCID_HARDWARE_ERROR', 'reader hardware error', { bError });
  if (bError === CcidBError.CMD_SLOT_BUSY)
    return new CcidError('CCID_BUSY', 'the reader reports the slot busy (CMD_SLOT_BUSY)', {
      bError,
    });
  return new CcidError('CCID_COMMAND_FAILED', `XfrBlock failed, bError 0x${bError.toString(16)}`, {
    bError,
  });
}

/**
 * What a reader answer to a T=1 block means for the T=1 engine (TPDU level): a block, a BWT
 * expiry (ICC_MUTE with the card present), a parity error, or a failure the caller sees.
 */
export type T1BlockResult =
  | { type: 'block'; data: Uint8Array }
  | { type: 'error'; kind: 'timeout' | 'parity' }
  | { type: 'fail'; error: CcidError };

/** Classifies the reader's answer to an XfrBlock carrying a T=1 block. */
export function t1BlockResult(r: CcidResponse, slot: number): T1BlockResult {
  if (r.commandStatus === 0) return { type: 'block', data: r.data };
  if (r.iccStatus === IccStatus.Absent) return { type: 'fail', error: cardAbsentError(slot) };
  if (r.bError === CcidBError.ICC_MUTE) return { type: 'error', kind: 'timeout' };
  if (r.bError === CcidBError.XFR_PARITY_ERROR) return { type: 'error', kind: 'parity' };
  return { type: 'fail', error: xfrBlockError(r, slot) };
}

/** XfrBlock parameters for a T=1 block sent with a waiting-time extension `wtx` (CCID rev 1.1 §6.1.4 bBWI). */
export function t1BlockXfr(wtx: number): { bwi: number; timeoutScale: number } {
  return { bwi: wtx > 1 ? Math.min(wtx, 255) : 0, timeoutScale: Math.max(1, wtx) };
}

/** Throws CCID_APDU_TOO_LONG when `length` data bytes exceed one XfrBlock of this reader. */
export function assertXfrBlockFits(
  length: number,
  maxMessageLength: number,
  kind: XfrPayloadKind,
): void {
  // libccid's SCM quirk (announced 263, takes 271) applies to T=0 TPDUs and short APDUs only.
  const max = maxXfrBlockDataBytes(maxMessageLength, kind);
  if (length > max)
    throw new CcidError(
      'CCID_APDU_TOO_LONG',
      `${length} bytes exceed the reader's ${max}-byte message limit`,
    );
}

/**
 * Errors that end an operation as they are: the card or reader is gone, or the caller stopped it.
 * Optional steps (IFSD negotiation) give up on anything else and carry on.
 */
export function isTerminalError(e: unknown): boolean {
  return (
    isCcidError(e) &&
    (e.code === 'CCID_CARD_ABSENT' ||
      e.code === 'CCID_READER_GONE' ||
      e.code === 'CCID_ABORTED' ||
      e.code === 'CCID_CLOSED')
  );
}
