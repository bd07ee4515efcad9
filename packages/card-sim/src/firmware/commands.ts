/**
 * The bulk-OUT commands other than XfrBlock and Abort, by bMessageType (CCID Rev 1.1 §6.1): each
 * answers from the slot's state without waiting on the card. Power and parameter commands live in
 * their own modules; the reader's own small commands are here.
 */
import { readLe32, writeLe32 } from '../bytes.ts';
import { CCID_ERROR, PC_to_RDR } from '../ccid-constants.ts';
import type { ReaderCaps } from './caps.ts';
import { getParameters, resetParameters, setParameters } from './parameters.ts';
import { iccClock, powerOff, powerOn } from './power.ts';
import { failed, type Reply, type Slot } from './slot.ts';

/** One command: the slot it addresses and the whole PC_to_RDR message (header + abData). */
export type CommandHandler = (caps: ReaderCaps, s: Slot, msg: Uint8Array) => Reply;

/** GetSlotStatus; an empty slot fails on readers whose profile says so. */
function getSlotStatus(caps: ReaderCaps, s: Slot): Reply {
  if (!s.card && caps.profile.absentSlotStatus === 'failed') return failed(CCID_ERROR.ICC_MUTE);
  return { b9: s.powered ? s.clockStatus : 0 };
}

/** T0APDU (§6.1.10): bmChanges bit 0 sets bClassGetResponse, bit 1 bClassEnvelope. */
function t0Apdu(_caps: ReaderCaps, s: Slot, msg: Uint8Array): Reply {
  const changes = msg[7] ?? 0;
  if (changes & ~0x03) return failed(CCID_ERROR.BAD_POWERSELECT);
  if (changes & 1) s.classGetResponse = msg[8] ?? 0;
  if (changes & 2) s.classEnvelope = msg[9] ?? 0;
  return { b9: s.clockStatus };
}

/** Mechanical (§6.1.12): functions 1..5 on readers that have a mechanism. */
function mechanical(caps: ReaderCaps, s: Slot, msg: Uint8Array): Reply {
  const fn = msg[7] ?? 0;
  if (caps.profile.mechanical === 0) return failed(CCID_ERROR.CMD_NOT_SUPPORTED);
  if (fn < 1 || fn > 5) return failed(CCID_ERROR.BAD_POWERSELECT);
  return { b9: s.clockStatus };
}

/** SetDataRateAndClockFrequency (§6.1.14): answers the values it applied, capped by the profile. */
function setDataRateAndClock(caps: ReaderCaps, _s: Slot, msg: Uint8Array): Reply {
  const data = msg.subarray(10);
  if (data.length !== 8) return failed(CCID_ERROR.BAD_LENGTH);
  const out = new Uint8Array(8);
  writeLe32(out, 0, Math.min(readLe32(data, 0), caps.profile.maxClockKhz));
  writeLe32(out, 4, Math.min(readLe32(data, 4), caps.profile.maxDataRate));
  return { data: out };
}

const notSupported = (): Reply => failed(CCID_ERROR.CMD_NOT_SUPPORTED);

/** Handlers by bMessageType; a type not listed is "command not supported" (§6.2.6, bError 0). */
export const COMMAND_HANDLERS: ReadonlyMap<number, CommandHandler> = new Map<
  number,
  CommandHandler
>([
  [PC_to_RDR.IccPowerOn, (caps, s, msg) => powerOn(caps, s, msg[7] ?? 0, msg.subarray(10).length)],
  [PC_to_RDR.IccPowerOff, (_caps, s) => powerOff(s)],
  [PC_to_RDR.GetSlotStatus, getSlotStatus],
  [PC_to_RDR.GetParameters, (_caps, s) => getParameters(s)],
  [PC_to_RDR.ResetParameters, resetParameters],
  [
    PC_to_RDR.SetParameters,
    (caps, s, msg) => setParameters(caps, s, msg[7] ?? 0, msg.subarray(10)),
  ],
  [PC_to_RDR.Escape, notSupported],
  [PC_to_RDR.IccClock, (caps, s, msg) => iccClock(caps, s, msg[7] ?? 0)],
  [PC_to_RDR.T0APDU, t0Apdu],
  // No PIN pad is simulated (bPINSupport is advertised only for descriptor fidelity).
  [PC_to_RDR.Secure, notSupported],
  [PC_to_RDR.Mechanical, mechanical],
  [PC_to_RDR.SetDataRateAndClockFrequency, setDataRateAndClock],
]);
