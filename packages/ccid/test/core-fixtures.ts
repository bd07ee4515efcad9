/** Shared inputs of the core's table tests: a reader descriptor, card ATRs and reader answers. */
import type { CcidClassDescriptor, CcidResponse, CcidResponseType } from '../src/core/index.ts';
import { decodeResponse, encodeResponse } from '../src/core/index.ts';

/** A TPDU reader without automatic features (0x00010030): the host does PPS, SetParameters and IFSD. */
export const TPDU_READER: CcidClassDescriptor = {
  bLength: 54,
  bDescriptorType: 0x21,
  bcdCCID: 0x0110,
  bMaxSlotIndex: 0,
  bVoltageSupport: 7,
  dwProtocols: 3,
  dwDefaultClock: 4000,
  dwMaximumClock: 4000,
  bNumClockSupported: 0,
  dwDataRate: 10752,
  dwMaxDataRate: 344086,
  bNumDataRatesSupported: 0,
  dwMaxIFSD: 254,
  dwSynchProtocols: 0,
  dwMechanical: 0,
  dwFeatures: 0x00010030,
  dwMaxCCIDMessageLength: 271,
  bClassGetResponse: 0,
  bClassEnvelope: 0,
  wLcdLayout: 0,
  bPINSupport: 0,
  bMaxCCIDBusySlots: 1,
};

/** T=1 only, TA1 = 0x13 (YubiKey). */
export const YUBIKEY_ATR = '3BFD1300008131FE158073C021C057597562694B657940';
/** T=0 (default) and T=1 (EstEID). */
export const ESTEID_ATR = '3BDB960080B1FE451F830012233F536549440F9000F1';
/** T=0 only, no TA1. */
export const T0_ONLY_ATR = '3B890056434152445F4E5353';

/** A reader answer as the transport hands it over (slot 0, bSeq 0). */
export function answer(
  type: CcidResponseType,
  fields: {
    commandStatus?: number;
    iccStatus?: number;
    bError?: number;
    bSpecific?: number;
    data?: Uint8Array;
  } = {},
): CcidResponse {
  return decodeResponse(encodeResponse({ type, slot: 0, seq: 0, ...fields }));
}

/**
 * The bulk-IN completions of one USB transfer carrying `msg` (ccid.md §16.2): its whole packets,
 * `packetsPerCompletion` at a time (default all in one), then the short remainder.
 */
export function usbTransfer(
  msg: Uint8Array,
  packetSize: number,
  packetsPerCompletion = Infinity,
): Uint8Array[] {
  const fullEnd = msg.length - (msg.length % packetSize);
  const step = Number.isFinite(packetsPerCompletion) ? packetsPerCompletion * packetSize : fullEnd;
  const out: Uint8Array[] = [];
  for (let at = 0; at < fullEnd; at += step)
    out.push(msg.subarray(at, Math.min(at + step, fullEnd)));
  if (fullEnd < msg.length || msg.length === 0) out.push(msg.subarray(fullEnd));
  return out;
}
