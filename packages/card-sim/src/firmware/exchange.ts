/**
 * XfrBlock at each exchange level (CCID Rev 1.1 §6.1.4): TPDU (with the host's PPS), short APDU,
 * and extended APDU with chaining both ways (wLevelParameter / bChainParameter).
 */
import { concatBytes } from '../bytes.ts';
import { CCID_ERROR } from '../ccid-constants.ts';
import type { FaultInjector } from '../faults.ts';
import type { ReaderCaps } from './caps.ts';
import { clearChains, failed, type Reply, type Slot } from './slot.ts';
import { cardAcceptsFidi } from './speed.ts';
import { apduToCard } from './t0-apdu.ts';

/** The XfrBlock payload `data` with wLevelParameter `level`, for a slot with a powered card. */
export function exchangeAtLevel(
  caps: ReaderCaps,
  faults: FaultInjector,
  s: Slot,
  data: Uint8Array,
  level: number,
): Promise<Reply> | Reply {
  switch (caps.level) {
    case 'tpdu':
      return unchainedError(data, level) ?? xfrTpdu(faults, s, data);
    case 'short-apdu':
      return unchainedError(data, level) ?? xfrShortApdu(caps, s, data);
    case 'extended-apdu':
      return xfrExtendedApdu(caps, s, data, level);
    default:
      return failed(CCID_ERROR.CMD_NOT_SUPPORTED);
  }
}

/** TPDU and short-APDU levels have no chaining: wLevelParameter 0 and a non-empty block only. */
function unchainedError(data: Uint8Array, level: number): Reply | null {
  if (level !== 0) return failed(CCID_ERROR.BAD_LEVELPARAMETER);
  if (data.length === 0) return failed(CCID_ERROR.BAD_LENGTH);
  return null;
}

async function xfrTpdu(faults: FaultInjector, s: Slot, data: Uint8Array): Promise<Reply> {
  if (s.isCardConfused) return failed(CCID_ERROR.ICC_MUTE);
  const ppsAllowed = s.ppsAllowed;
  s.ppsAllowed = false;
  if (ppsAllowed && data[0] === 0xff) return pps(s, data);
  // The reader talks at its configured protocol/speed; if the card runs another, nothing
  // intelligible comes back (the host forgot PPS or SetParameters).
  if (s.readerProtocol !== s.cardProtocol || (s.readerParams[0] ?? 0x11) !== s.cardFidi) {
    return failed(CCID_ERROR.ICC_MUTE);
  }
  if (s.cardProtocol === 0) {
    const out = await s.t0!.exchange(data);
    if (out.kind === 'bad-tpdu') return failed(CCID_ERROR.BAD_LENGTH);
    return { data: out.response };
  }
  let block = await s.t1!.receive(data);
  if (faults.shouldFire('corruptT1Block')) {
    block = block.slice();
    const at = block.length - 1;
    block[at] = (block[at] ?? 0) ^ 0x5a;
  }
  return { data: block };
}

/** PPS exchange sent by the host in an XfrBlock (ISO 7816-3 §9.2, ccid.md §13.1). */
function pps(s: Slot, req: Uint8Array): Reply {
  const pps0 = req[1] ?? 0;
  const expectedLength = 3 + ((pps0 >> 4) & 1) + ((pps0 >> 5) & 1) + ((pps0 >> 6) & 1);
  let x = 0;
  for (const b of req) x ^= b;
  const t = pps0 & 0x0f;
  const fidi = pps0 & 0x10 ? (req[2] ?? 0) : 0x11;
  const ok =
    req.length === expectedLength &&
    x === 0 &&
    (pps0 & 0x80) === 0 &&
    (t === 0 || t === 1) &&
    s.atr!.protocols.includes(t as 0 | 1) &&
    cardAcceptsFidi(s.atr!.ta1, fidi);
  if (!ok) {
    // The card does not answer an unacceptable PPS; it needs a new reset.
    s.isCardConfused = true;
    return failed(CCID_ERROR.ICC_MUTE);
  }
  s.cardProtocol = t as 0 | 1;
  s.cardFidi = fidi;
  s.ppsDone = true;
  return { data: req.slice() };
}

async function xfrShortApdu(caps: ReaderCaps, s: Slot, data: Uint8Array): Promise<Reply> {
  const resp = await apduToCard(caps, s, data);
  if (resp.length > caps.profile.maxMessageLength - 10) return failed(CCID_ERROR.XFR_OVERRUN);
  return { data: resp };
}

/** Extended APDU level with chaining both ways (CCID §6.1.4 wLevelParameter, §6.2.1 bChainParameter). */
async function xfrExtendedApdu(
  caps: ReaderCaps,
  s: Slot,
  data: Uint8Array,
  level: number,
): Promise<Reply> {
  const max = caps.profile.maxMessageLength - 10;
  switch (level) {
    case 0x0000:
      clearChains(s);
      if (data.length === 0) return failed(CCID_ERROR.BAD_LENGTH);
      return responseChunk(s, await apduToCard(caps, s, data), max, true);
    case 0x0001:
      s.respChain = null;
      s.cmdChain = [data.slice()];
      return { b9: 0x10 };
    case 0x0003:
      if (!s.cmdChain) return failed(CCID_ERROR.BAD_LEVELPARAMETER);
      s.cmdChain.push(data.slice());
      return { b9: 0x10 };
    case 0x0002: {
      if (!s.cmdChain) return failed(CCID_ERROR.BAD_LEVELPARAMETER);
      s.cmdChain.push(data.slice());
      const apdu = concatBytes(...s.cmdChain);
      s.cmdChain = null;
      return responseChunk(s, await apduToCard(caps, s, apdu), max, true);
    }
    case 0x0010:
      if (!s.respChain || data.length !== 0) return failed(CCID_ERROR.BAD_LEVELPARAMETER);
      return responseChunk(s, s.respChain, max, false);
    default:
      return failed(CCID_ERROR.BAD_LEVELPARAMETER);
  }
}

/** The next piece of a response: bChainParameter 0x00/0x02 when it ends, 0x01/0x03 when more follows. */
function responseChunk(s: Slot, resp: Uint8Array, max: number, isFirst: boolean): Reply {
  if (resp.length <= max) {
    s.respChain = null;
    return { data: resp.slice(), b9: isFirst ? 0x00 : 0x02 };
  }
  s.respChain = resp.slice(max);
  return { data: resp.slice(0, max), b9: isFirst ? 0x01 : 0x03 };
}
