/**
 * Reader profiles: the descriptor values of real readers, taken from the libccid `parse` dumps in
 * shared/data/ccid-readers (LGPL data; only the numeric values are extracted here, the file is named
 * in `source`). The dumps do not record endpoint sizes or bInterval: those are chosen values
 * (full-speed bulk 64 bytes and interrupt 8 bytes unless said otherwise) and are marked as such.
 * The model lives in ./profiles/model.ts, the data per reader family beside it.
 */
import {
  extendedApdu,
  multiSlot,
  noInterrupt,
  packet16,
  shortApdu,
} from './profiles/apdu-readers.ts';
import type { ReaderProfile } from './profiles/model.ts';
import {
  multiSlotConcurrent,
  tpduT0,
  tpduT1NoAuto,
  vendorClass,
  vendorClassAfterEndpoints,
} from './profiles/tpdu-readers.ts';

export {
  CCID_FEATURE,
  exchangeLevelOf,
  type ExchangeLevel,
  type ReaderProfile,
} from './profiles/model.ts';

/**
 * The built-in profiles. Keys:
 * - `tpduT0`: Gemplus GemPC Twin, TPDU, no auto-PPS (0x00010230), data-rate table, answers
 *   GET_CLOCK_FREQUENCIES although it announces 0 clocks.
 * - `tpduT1NoAuto`: ACS ACR38U, TPDU without auto-PPS/auto-IFSD (0x00010030), dwMaxIFSD 247,
 *   both class requests stall.
 * - `shortApdu`: Alcor Micro AU9520, short APDU level (0x000204BE).
 * - `extendedApdu`: Cherry SmartTerminal XX44, extended APDU level with a 271-byte message limit
 *   (so extended APDUs are chained) and no 0x02 bit (an APDU reader breaking the spec rule).
 * - `packet16`: Alcor Link AK9563, extended APDU level, bulk packets 16 bytes and interrupt 4 bytes
 *   as measured in the real capture (ccid.md §16.2), returns 61xx/6Cxx of T=0 cards to the host.
 * - `noInterrupt`: Aktiv Rutoken ECP, short APDU, T=1 only, bulk endpoints only (host must poll).
 * - `multiSlot`: ACS ACR33U, 5 slots (bMaxSlotIndex 4), short APDU, bMaxCCIDBusySlots 1.
 * - `vendorClass`: SCM SCR331-DI, interface class 0xFF, TPDU with auto-PPS, 2 slots, 263-byte
 *   messages.
 * - `vendorClassAfterEndpoints`: Reiner SCT cyberJack pinpad(a), class 0xFF, TPDU without auto-PPS
 *   or auto-IFSD, CCID descriptor after the endpoint descriptors, bcdCCID 10.00.
 * - `multiSlotConcurrent`: sysmocom sysmoOCTSIM, 8 slots with bMaxCCIDBusySlots 8, TPDU, T=0 only.
 */
export const readerProfiles = {
  tpduT0,
  tpduT1NoAuto,
  shortApdu,
  extendedApdu,
  packet16,
  noInterrupt,
  multiSlot,
  vendorClass,
  vendorClassAfterEndpoints,
  multiSlotConcurrent,
} as const satisfies Record<string, ReaderProfile>;

/** Keys of the built-in profiles. */
export type ReaderProfileId = keyof typeof readerProfiles;
