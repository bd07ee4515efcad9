import type { ParsedAtr } from './atr.ts';
import { DI_TABLE, FI_TABLE } from './atr.ts';
import { CcidFeature } from './constants.ts';
import type { CcidClassDescriptor, ExchangeLevel } from './descriptors.ts';
import { effectiveIfsd, exchangeLevelOf, maxXfrBlockDataBytes } from './descriptors.ts';
import { CcidError } from './errors.ts';
import { buildPps } from './pps.ts';

/** What the host must do after the ATR, per CCID rev 1.1 §5.1 dwFeatures and ccid.md §11 / §15.4. */
export interface ProtocolPlan {
  /** Transmission protocol chosen. */
  protocol: 0 | 1;
  /** PPS request the host must send itself in an XfrBlock (TPDU reader without 0x80/0x40, negotiable card). */
  pps: Uint8Array | undefined;
  /** SetParameters to send (absent with feature 0x40, which forbids it). */
  setParameters: { protocolNum: 0 | 1; data: Uint8Array } | undefined;
  /** S(IFS request) value when the host must negotiate IFSD (T=1, TPDU level, no feature 0x400). */
  negotiateIfsd: number | undefined;
  /** FI/DI byte that will be in force (TA1/PPS1 coding). */
  fiDi: number;
  level: ExchangeLevel;
}

/** Options of {@link planProtocol}. */
export interface PlanProtocolOptions {
  atr: ParsedAtr;
  descriptor: CcidClassDescriptor;
  /** Protocol the caller prefers when the card offers several (default: the card's default protocol). */
  preferredProtocol?: 0 | 1;
  /** Reader data-rate table (GET_DATA_RATES), bps; undefined = no table. */
  dataRates?: readonly number[];
  /** Skip PPS (e.g. after a failed PPS, retry at default parameters). */
  isPpsDisabled?: boolean;
}

/**
 * Decides protocol, PPS, SetParameters and IFSD negotiation for a freshly reset card
 * (libccid `IFDHSetProtocolParameters()`, ccid.md §15.4):
 * - TA2 (specific mode) fixes the protocol; implicit parameters (TA2 b5) are refused (CCID_UNSUPPORTED).
 * - otherwise `preferredProtocol` when the card and reader share it; else T=1 when the card offers
 *   T=0 and T=1 and the reader is TPDU-level with a message limit too small for a maximal short T=0
 *   TPDU (T=0 cannot split a command, T=1 chains by IFSC; see `canCarryMaximalT0Tpdu`); else the
 *   card's default protocol (first offered).
 * - feature 0x40 (automatic negotiation): no PPS and no SetParameters.
 * - PPS1 = TA1 when the card's rate at dwDefaultClock beats dwDataRate and fits dwMaxDataRate (DI lowered until it fits).
 * - the host sends the PPS itself only on TPDU/character readers lacking 0x80, card in negotiable mode,
 *   and only when the protocol differs from the card's default or PPS1 is wanted.
 * - IFSD negotiation for T=1 on TPDU/character readers without 0x400, with IFSD = dwMaxIFSD clamped to 1..254.
 * Throws CcidError CCID_UNSUPPORTED when no protocol is shared by card and reader.
 */
export function planProtocol(opts: PlanProtocolOptions): ProtocolPlan {
  const { atr, descriptor: d } = opts;
  const level = exchangeLevelOf(d.dwFeatures);
  const p = chooseProtocol(atr, d, opts.preferredProtocol);
  const isAutoNegotiation = (d.dwFeatures & CcidFeature.AutoParameterNegotiation) !== 0;
  const isHostTpdu = level === 'tpdu' || level === 'character';

  let pps1: number | undefined;
  if (
    !isAutoNegotiation &&
    !atr.specificMode &&
    atr.groups[0]?.ta !== undefined &&
    !opts.isPpsDisabled
  )
    pps1 = choosePps1(atr.ta1, d, opts.dataRates);
  let pps: Uint8Array | undefined;
  const isPpsByHost =
    isHostTpdu &&
    !isAutoNegotiation &&
    !(d.dwFeatures & CcidFeature.AutoPps) &&
    !atr.specificMode &&
    !opts.isPpsDisabled;
  if (isPpsByHost && (p !== atr.defaultProtocol || pps1 !== undefined))
    pps = buildPps(pps1 === undefined ? { protocol: p } : { protocol: p, pps1 });
  // Host that could not send a PPS (no PPS by host, no 0x80) must stay at Fd/Dd.
  const canChangeSpeed = (d.dwFeatures & CcidFeature.AutoPps) !== 0 || pps !== undefined;
  const fiDi = atr.specificMode ? atr.ta1 : canChangeSpeed && pps1 !== undefined ? pps1 : 0x11;
  const setParameters = isAutoNegotiation ? undefined : setParametersFor(atr, p, fiDi);
  const negotiateIfsd =
    p === 1 && isHostTpdu && !(d.dwFeatures & CcidFeature.AutoIfsd)
      ? effectiveIfsd(d.dwMaxIFSD)
      : undefined;
  return { protocol: p, pps, setParameters, negotiateIfsd, fiDi, level };
}

/** The protocol rule of {@link planProtocol}; throws CCID_UNSUPPORTED when card and reader share none. */
function chooseProtocol(atr: ParsedAtr, d: CcidClassDescriptor, pref: 0 | 1 | undefined): 0 | 1 {
  const readerHas = (t: number): boolean =>
    (t === 0 || t === 1) && (d.dwProtocols & (1 << t)) !== 0;
  if (atr.specificMode) {
    const protocol = atr.specificMode.protocol;
    if (!readerHas(protocol))
      throw new CcidError(
        'CCID_UNSUPPORTED',
        `card is in specific mode T=${protocol}, not supported by the reader`,
      );
    if (atr.specificMode.isImplicit)
      throw new CcidError(
        'CCID_UNSUPPORTED',
        'card in specific mode with implicit parameters (TA2 b5)',
      );
    return protocol as 0 | 1;
  }
  const shared = atr.protocols.filter(readerHas);
  if (shared.length === 0)
    throw new CcidError(
      'CCID_UNSUPPORTED',
      `card offers T=${atr.protocols.join('/')}, reader supports dwProtocols 0x${d.dwProtocols.toString(16)}`,
    );
  const protocol =
    pref !== undefined && shared.includes(pref)
      ? pref
      : pref === undefined && shared.includes(0) && shared.includes(1) && !canCarryMaximalT0Tpdu(d)
        ? 1
        : shared.includes(atr.defaultProtocol)
          ? atr.defaultProtocol
          : shared[0]!;
  return protocol as 0 | 1;
}

/** abProtocolDataStructure of SetParameters for T=0 / T=1 (CCID rev 1.1 §6.1.7). */
function setParametersFor(
  atr: ParsedAtr,
  p: 0 | 1,
  fiDi: number,
): { protocolNum: 0 | 1; data: Uint8Array } {
  const conv = atr.convention === 'inverse' ? 0x02 : 0;
  if (p === 0)
    return { protocolNum: 0, data: Uint8Array.from([fiDi, conv, atr.extraGuardTime, atr.wi, 0]) };
  const t1 = atr.t1;
  return {
    protocolNum: 1,
    data: Uint8Array.from([
      fiDi,
      0x10 | conv | (t1.edc === 'crc' ? 1 : 0),
      atr.extraGuardTime,
      ((t1.bwi & 0x0f) << 4) | (t1.cwi & 0x0f),
      0,
      t1.ifsc,
      0,
    ]),
  };
}

/** Largest short T=0 TPDU, bytes: CLA INS P1 P2 P3 + 255 data (ISO/IEC 7816-3:2006 §10.3.2). */
const MAX_SHORT_T0_TPDU_BYTES = 5 + 255;

/**
 * Whether a TPDU-level reader can carry a maximal short T=0 TPDU (5 + 255 data, plus the 10-byte
 * CCID header) in one XfrBlock. T=0 has no transport-level chaining: a command TPDU must go to the
 * reader whole, so a reader with a smaller dwMaxCCIDMessageLength refuses every Lc > max - 15
 * (e.g. OpenSC's 255-byte GENERAL AUTHENTICATE chunks). T=1 instead chains I-blocks of at most
 * IFSC bytes (ISO/IEC 7816-3:2006 §11.6.2), so any APDU gets through. Other levels are not
 * concerned: APDU-level readers do their own TPDU work. The libccid SCM 263 quirk counts
 * ({@link maxXfrBlockDataBytes}): those readers take a maximal TPDU.
 */
function canCarryMaximalT0Tpdu(d: CcidClassDescriptor): boolean {
  if (exchangeLevelOf(d.dwFeatures) !== 'tpdu') return true;
  return (
    maxXfrBlockDataBytes(d.dwMaxCCIDMessageLength, 't0-tpdu-or-short-apdu') >=
    MAX_SHORT_T0_TPDU_BYTES
  );
}

/** Bit rate of a FI/DI byte at a clock, bps (ISO 7816-3 §7.1: f x Di / Fi); undefined for RFU values. */
export function bitRateBps(fiDi: number, clockKhz: number): number | undefined {
  const fi = FI_TABLE[fiDi >> 4];
  const di = DI_TABLE[fiDi & 0x0f];
  if (fi === undefined || di === undefined) return undefined;
  return (clockKhz * 1000 * di) / fi;
}

function choosePps1(
  ta1: number,
  d: CcidClassDescriptor,
  rates: readonly number[] | undefined,
): number | undefined {
  const fits = (rate: number): boolean =>
    rate <= d.dwMaxDataRate &&
    (!rates || rates.length === 0 || rates.some((r) => Math.abs(r - rate) <= 2));
  const defaultRate = bitRateBps(0x11, d.dwDefaultClock) ?? 0;
  let candidate = ta1;
  for (;;) {
    const rate = bitRateBps(candidate, d.dwDefaultClock);
    if (rate === undefined) return undefined;
    if (rate <= defaultRate + 2) return undefined; // not faster than the default: no PPS1
    if (fits(rate)) return candidate;
    // Lower DI only (libccid tries TA1-1 ... while the card is faster than the reader).
    if ((candidate & 0x0f) <= 1) return undefined;
    candidate -= 1;
  }
}
