/**
 * Parameter commands: GetParameters, ResetParameters and SetParameters (CCID Rev 1.1 §6.1.5–§6.1.7),
 * including the PPS a 0x80 (auto-PPS) reader performs by itself before applying new parameters.
 */
import { CCID_ERROR } from '../ccid-constants.ts';
import { CCID_FEATURE } from '../profiles.ts';
import type { ReaderCaps } from './caps.ts';
import { autoIfsd, defaultReaderParams } from './power.ts';
import { failed, type Reply, type Slot } from './slot.ts';
import { bitRate, cardAcceptsFidi, isDefinedFidi } from './speed.ts';

/** GetParameters: the reader's protocol and abProtocolDataStructure. */
export function getParameters(s: Slot): Reply {
  if (!s.card) return failed(CCID_ERROR.ICC_MUTE);
  return { b9: s.readerProtocol, data: s.readerParams.slice() };
}

/** ResetParameters: back to what a reset leaves. */
export function resetParameters(caps: ReaderCaps, s: Slot): Reply {
  if (!s.card) return failed(CCID_ERROR.ICC_MUTE);
  defaultReaderParams(caps, s);
  return { b9: s.readerProtocol, data: s.readerParams.slice() };
}

/** SetParameters for T=`protocolNum` with abProtocolDataStructure `data`. */
export function setParameters(
  caps: ReaderCaps,
  s: Slot,
  protocolNum: number,
  data: Uint8Array,
): Reply {
  const refused = (error: number): Reply => ({ status: 1, error, b9: s.readerProtocol });
  if (protocolNum > 1) return refused(CCID_ERROR.BAD_PROTOCOLNUM);
  if (data.length !== (protocolNum === 0 ? 5 : 7)) return refused(CCID_ERROR.BAD_LENGTH);
  if (!caps.supports(protocolNum)) return refused(CCID_ERROR.BAD_PROTOCOLNUM);
  if (!s.card || !s.atr) return refused(CCID_ERROR.ICC_MUTE);
  const protocol = protocolNum as 0 | 1;
  const badOffset = badParameterOffset(caps, protocol, data);
  if (badOffset !== null) return paramError(s, badOffset);
  const fidi = data[0] ?? 0;
  if (caps.level === 'tpdu' && !caps.has(CCID_FEATURE.autoParamNegotiation)) {
    const differs = protocol !== s.cardProtocol || fidi !== s.cardFidi;
    if (differs && caps.has(CCID_FEATURE.autoPps) && !readerPps(s, protocol, fidi)) {
      return paramError(s, 10);
    }
  }
  if (!caps.has(CCID_FEATURE.autoParamNegotiation)) {
    s.readerProtocol = protocol;
    s.readerParams = data.slice();
  }
  if (caps.level === 'tpdu' && s.readerProtocol === 1 && s.cardProtocol === 1) autoIfsd(caps, s);
  return { b9: s.readerProtocol, data: s.readerParams.slice() };
}

/**
 * Field checks (CCID §6.1.7): the offset of the first bad field in the message (the CCID error
 * code), or null when every field is acceptable.
 */
function badParameterOffset(caps: ReaderCaps, protocol: 0 | 1, data: Uint8Array): number | null {
  const { maxClockKhz, maxDataRate } = caps.profile;
  const fidi = data[0] ?? 0;
  if (!isDefinedFidi(fidi)) return 10;
  if (bitRate(fidi, maxClockKhz) > maxDataRate * 1.01 && fidi !== 0x11) return 10;
  const tcck = data[1] ?? 0;
  if (protocol === 0 && (tcck & ~0x02) !== 0) return 11;
  if (protocol === 1 && (tcck & ~0x03) !== 0x10) return 11;
  if (protocol === 1 && (data[3] ?? 0) >> 4 > 9) return 13;
  if ((data[4] ?? 0) > 3) return 14;
  if (protocol === 1) {
    const ifsc = data[5] ?? 0;
    if (ifsc < 1 || ifsc > 254) return 15;
    if ((data[6] ?? 0) !== 0 && !caps.has(CCID_FEATURE.nadOtherThanZero)) return 16;
  }
  return null;
}

/** dwFeatures 0x80: the reader performs the PPS itself (ISO 7816-3 §9); false if the card refuses. */
function readerPps(s: Slot, protocol: 0 | 1, fidi: number): boolean {
  const atr = s.atr;
  if (!atr || !s.powered || !s.ppsAllowed) return false;
  if (!atr.protocols.includes(protocol) || !cardAcceptsFidi(atr.ta1, fidi)) return false;
  s.cardProtocol = protocol;
  s.cardFidi = fidi;
  s.ppsAllowed = false;
  s.ppsDone = true;
  return true;
}

function paramError(s: Slot, offset: number): Reply {
  return { status: 1, error: offset, b9: s.readerProtocol, data: s.readerParams.slice() };
}
