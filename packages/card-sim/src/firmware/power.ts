/**
 * Power commands: IccPowerOn (voltage classes, ATR, the reader's own parameter negotiation),
 * IccPowerOff and IccClock (CCID Rev 1.1 §6.1.1, §6.1.2, §6.1.9), and the reader parameters a
 * reset leaves behind.
 */
import type { SimAtrInfo } from '../atr.ts';
import { CCID_ERROR } from '../ccid-constants.ts';
import { CCID_FEATURE } from '../profiles.ts';
import { T0CardEngine } from '../t0-card.ts';
import { T1CardEngine } from '../t1-card.ts';
import type { VirtualCard } from '../virtual-card.ts';
import type { ReaderCaps } from './caps.ts';
import { clearChains, failed, T0_DEFAULT_PARAMS, type Reply, type Slot } from './slot.ts';
import { bitRate } from './speed.ts';

/** bPowerSelect 1..3 (5 V, 3 V, 1.8 V) as a bVoltageSupport bit. */
const VOLTAGE_BIT = [0, 1, 2, 4] as const;

/** IccPowerOn: checks the voltage, resets the card and answers its ATR. */
export function powerOn(caps: ReaderCaps, s: Slot, powerSelect: number, dataLength: number): Reply {
  if (dataLength !== 0) return failed(CCID_ERROR.BAD_LENGTH);
  if (powerSelect > 3) return failed(CCID_ERROR.BAD_POWERSELECT);
  const bit = VOLTAGE_BIT[powerSelect as 0 | 1 | 2 | 3];
  if (powerSelect !== 0 && (caps.profile.voltageSupport & bit) === 0)
    return failed(CCID_ERROR.BAD_POWERSELECT);
  const card = s.card;
  if (!card || !s.atr) return failed(CCID_ERROR.ICC_MUTE);
  if (powerSelect !== 0 && ((card.voltageClasses ?? 0x07) & bit) === 0) {
    s.powered = false;
    return failed(CCID_ERROR.ICC_CLASS_NOT_SUPPORTED);
  }
  card.reset?.();
  activate(s, card, s.atr);
  defaultReaderParams(caps, s);
  if (caps.has(CCID_FEATURE.autoParamNegotiation) && s.atr.specificProtocol === null) {
    negotiateByReader(caps, s, s.atr);
  }
  if (caps.level === 'tpdu' && s.cardProtocol === 1 && s.readerProtocol === 1) autoIfsd(caps, s);
  return { data: card.atr.slice() };
}

/** The card after its ATR: protocol engines fresh, running as ISO 7816-3 §6.3.1 says. */
function activate(s: Slot, card: VirtualCard, atr: SimAtrInfo): void {
  s.powered = true;
  s.clockStatus = 0;
  s.isCardConfused = false;
  s.ppsDone = false;
  s.ppsAllowed = true;
  clearChains(s);
  // After the ATR the card runs its first offered protocol at Fd/Dd, or the TA2-specific
  // protocol at TA1.
  s.cardProtocol = atr.specificProtocol ?? atr.protocols[0] ?? 0;
  s.cardFidi = atr.specificProtocol !== null ? atr.ta1 : 0x11;
  const app = (apdu: Uint8Array): Promise<Uint8Array> | Uint8Array => card.process(apdu);
  s.t0 = new T0CardEngine(app);
  s.t1 = new T1CardEngine({
    ifsc: card.ifsc ?? atr.ifsc,
    edc: atr.edc,
    ...(card.crcVariant ? { crcVariant: card.crcVariant } : {}),
    ...(card.wtxEvery !== undefined ? { wtxEvery: card.wtxEvery } : {}),
    ...(card.wtxMultiplier !== undefined ? { wtxMultiplier: card.wtxMultiplier } : {}),
    ...(card.requestIfsc !== undefined ? { requestIfsc: card.requestIfsc } : {}),
    app,
  });
}

/** dwFeatures 0x40: the reader negotiates by itself (PPS to TA1 when it can, CCID §5.1). */
function negotiateByReader(caps: ReaderCaps, s: Slot, atr: SimAtrInfo): void {
  const proto = caps.supports(s.cardProtocol)
    ? s.cardProtocol
    : (atr.protocols.find((p) => caps.supports(p)) ?? 0);
  const { defaultClockKhz, maxDataRate } = caps.profile;
  const fidi = bitRate(atr.ta1, defaultClockKhz) <= maxDataRate * 1.01 ? atr.ta1 : 0x11;
  s.cardProtocol = proto;
  s.cardFidi = fidi;
  s.ppsAllowed = false;
  s.ppsDone = true;
  defaultReaderParams(caps, s);
}

/** IccPowerOff: the card goes inactive and its protocol state with it. */
export function powerOff(s: Slot): Reply {
  s.powered = false;
  s.t0 = null;
  s.t1 = null;
  clearChains(s);
  return { b9: 0 };
}

/** Reader parameters after reset: from the ATR with 0x02 (or 0x40), else the CCID defaults. */
export function defaultReaderParams(caps: ReaderCaps, s: Slot): void {
  const atr = s.atr;
  const isAuto =
    caps.has(CCID_FEATURE.autoConfigFromAtr) || caps.has(CCID_FEATURE.autoParamNegotiation);
  if (!atr || !isAuto || !caps.supports(s.cardProtocol)) {
    s.readerProtocol = 0;
    s.readerParams = T0_DEFAULT_PARAMS.slice();
    return;
  }
  s.readerProtocol = s.cardProtocol;
  s.readerParams =
    s.cardProtocol === 1
      ? Uint8Array.of(
          s.cardFidi,
          0x10 | (atr.edc === 'crc' ? 1 : 0),
          0x00,
          atr.tb3,
          0x00,
          atr.ifsc,
          0x00,
        )
      : Uint8Array.of(s.cardFidi, 0x00, 0x00, 0x0a, 0x00);
}

/** dwFeatures 0x400: the reader sends S(IFS request) with its dwMaxIFSD as the first T=1 exchange. */
export function autoIfsd(caps: ReaderCaps, s: Slot): void {
  if (caps.has(CCID_FEATURE.autoIfsd)) s.t1?.setIfsdByReader(caps.maxIfsd());
}

/** IccClock: stop (1) or restart (0) the clock, where dwFeatures allows it. */
export function iccClock(caps: ReaderCaps, s: Slot, command: number): Reply {
  if (!caps.has(CCID_FEATURE.clockStop)) return failed(CCID_ERROR.CMD_NOT_SUPPORTED);
  if (command > 1) return failed(CCID_ERROR.BAD_POWERSELECT);
  if (!s.card || !s.powered) return failed(CCID_ERROR.ICC_MUTE);
  s.clockStatus = command === 1 ? 0x01 : 0x00;
  return { b9: s.clockStatus };
}
