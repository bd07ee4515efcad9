import { readU16, readU32, writeU16, writeU32 } from './bytes.ts';
import { ChunkBuffer } from './chunk-buffer.ts';
import { CCID_HEADER_BYTES, PC_to_RDR, RDR_to_PC, RDR_to_PC_Interrupt } from './constants.ts';
import { CcidError } from './errors.ts';

/** Fields shared by every bulk message: CCID rev 1.1 §6.1 common header. */
interface Addressed {
  /** bSlot, 0..bMaxSlotIndex. */
  slot: number;
  /** bSeq, 0..255. */
  seq: number;
}

/** A PC_to_RDR bulk-OUT command (CCID rev 1.1 §6.1.1-§6.1.14). */
export type CcidCommand = Addressed &
  (
    | { type: 'IccPowerOn'; /** 0 auto, 1 5 V, 2 3 V, 3 1.8 V */ powerSelect: number }
    | { type: 'IccPowerOff' }
    | { type: 'GetSlotStatus' }
    | {
        type: 'XfrBlock';
        /** bBWI, BWT multiplier for this block (0 = none) */ bwi: number;
        /** wLevelParameter (§6.1.4) */ levelParameter: number;
        data: Uint8Array;
      }
    | { type: 'GetParameters' }
    | { type: 'ResetParameters' }
    | { type: 'SetParameters'; /** 0 T=0, 1 T=1 */ protocolNum: number; data: Uint8Array }
    | { type: 'Escape'; data: Uint8Array }
    | { type: 'IccClock'; /** 0 restart, 1 stop */ clockCommand: number }
    | { type: 'T0APDU'; changes: number; classGetResponse: number; classEnvelope: number }
    | { type: 'Secure'; bwi: number; levelParameter: number; data: Uint8Array }
    | { type: 'Mechanical'; function: number }
    | { type: 'Abort' }
    | {
        type: 'SetDataRateAndClockFrequency';
        /** kHz */ clockFrequencyKhz: number;
        /** bps */ dataRateBps: number;
      }
  );

export type CcidCommandType = CcidCommand['type'];

/** Encodes a PC_to_RDR command into one bulk-OUT message (header + abData). */
export function encodeCommand(cmd: CcidCommand): Uint8Array {
  let data: Uint8Array = EMPTY;
  let b7 = 0;
  let b89 = 0;
  switch (cmd.type) {
    case 'IccPowerOn':
      b7 = cmd.powerSelect;
      break;
    case 'XfrBlock':
    case 'Secure':
      b7 = cmd.bwi;
      b89 = cmd.levelParameter;
      data = cmd.data;
      break;
    case 'SetParameters':
      b7 = cmd.protocolNum;
      data = cmd.data;
      break;
    case 'Escape':
      data = cmd.data;
      break;
    case 'IccClock':
      b7 = cmd.clockCommand;
      break;
    case 'T0APDU':
      b7 = cmd.changes;
      b89 = (cmd.classGetResponse & 0xff) | ((cmd.classEnvelope & 0xff) << 8);
      break;
    case 'Mechanical':
      b7 = cmd.function;
      break;
    case 'SetDataRateAndClockFrequency':
      data = new Uint8Array(8);
      writeU32(data, 0, cmd.clockFrequencyKhz);
      writeU32(data, 4, cmd.dataRateBps);
      break;
    default:
      break;
  }
  const out = new Uint8Array(CCID_HEADER_BYTES + data.length);
  out[0] = PC_to_RDR[cmd.type];
  writeU32(out, 1, data.length);
  out[5] = cmd.slot;
  out[6] = cmd.seq & 0xff;
  out[7] = b7;
  writeU16(out, 8, b89);
  out.set(data, CCID_HEADER_BYTES);
  return out;
}

const EMPTY = new Uint8Array(0);
const commandNames = new Map<number, CcidCommandType>(
  Object.entries(PC_to_RDR).map(([k, v]) => [v, k as CcidCommandType]),
);

/** Decodes one whole PC_to_RDR message (inverse of {@link encodeCommand}; used by tests and simulators). */
export function decodeCommand(bytes: Uint8Array): CcidCommand {
  const h = peekHeader(bytes);
  if (h.kind !== 'header' || bytes.length !== CCID_HEADER_BYTES + h.length)
    throw new CcidError('CCID_BAD_MESSAGE', 'PC_to_RDR message length mismatch');
  const type = commandNames.get(h.messageType);
  if (!type)
    throw new CcidError(
      'CCID_BAD_MESSAGE',
      `unknown PC_to_RDR type 0x${h.messageType.toString(16)}`,
    );
  const base = { slot: h.slot, seq: h.seq };
  const b7 = bytes[7] ?? 0;
  const b89 = readU16(bytes, 8);
  const data = bytes.slice(CCID_HEADER_BYTES);
  switch (type) {
    case 'IccPowerOn':
      return { ...base, type, powerSelect: b7 };
    case 'XfrBlock':
    case 'Secure':
      return { ...base, type, bwi: b7, levelParameter: b89, data };
    case 'SetParameters':
      return { ...base, type, protocolNum: b7, data };
    case 'Escape':
      return { ...base, type, data };
    case 'IccClock':
      return { ...base, type, clockCommand: b7 };
    case 'T0APDU':
      return { ...base, type, changes: b7, classGetResponse: b89 & 0xff, classEnvelope: b89 >> 8 };
    case 'Mechanical':
      return { ...base, type, function: b7 };
    case 'SetDataRateAndClockFrequency':
      if (data.length !== 8)
        throw new CcidError('CCID_BAD_MESSAGE', 'SetDataRateAndClockFrequency needs 8 data bytes');
      return { ...base, type, clockFrequencyKhz: readU32(data, 0), dataRateBps: readU32(data, 4) };
    default:
      return { ...base, type };
  }
}

export type CcidResponseType =
  'DataBlock' | 'SlotStatus' | 'Parameters' | 'Escape' | 'DataRateAndClockFrequency';
const responseNames = new Map<number, CcidResponseType>(
  Object.entries(RDR_to_PC).map(([k, v]) => [v, k as CcidResponseType]),
);

/** A RDR_to_PC bulk-IN message (CCID rev 1.1 §6.2). */
export interface CcidResponse extends Addressed {
  type: CcidResponseType;
  /** bStatus = bmICCStatus | bmCommandStatus << 6 (§6.2.6). */
  bStatus: number;
  /** bError (§6.2.6): error code when commandStatus = 1; time-extension multiplier when 2. */
  bError: number;
  /** Byte 9: bChainParameter (DataBlock), bClockStatus (SlotStatus), bProtocolNum (Parameters), RFU otherwise. */
  bSpecific: number;
  /** bmICCStatus: 0 present+active, 1 present+inactive, 2 absent. */
  iccStatus: number;
  /** bmCommandStatus: 0 ok, 1 failed, 2 time extension. */
  commandStatus: number;
  data: Uint8Array;
}

/** Quick look at a CCID header (either direction): incomplete below 10 bytes. */
export function peekHeader(
  bytes: Uint8Array,
):
  | { kind: 'incomplete' }
  | { kind: 'header'; messageType: number; length: number; slot: number; seq: number } {
  if (bytes.length < CCID_HEADER_BYTES) return { kind: 'incomplete' };
  return {
    kind: 'header',
    messageType: bytes[0] ?? 0,
    length: readU32(bytes, 1),
    slot: bytes[5] ?? 0,
    seq: bytes[6] ?? 0,
  };
}

/** True when the byte is a RDR_to_PC bulk message type (0x80-0x84). */
export function isResponseType(t: number): boolean {
  return responseNames.has(t);
}

/** Decodes one whole RDR_to_PC message. Throws CcidError CCID_BAD_MESSAGE on unknown type or length mismatch. */
export function decodeResponse(bytes: Uint8Array): CcidResponse {
  const h = peekHeader(bytes);
  if (h.kind !== 'header')
    throw new CcidError(
      'CCID_BAD_MESSAGE',
      `RDR_to_PC message shorter than the header (${bytes.length} bytes)`,
    );
  const type = responseNames.get(h.messageType);
  if (!type)
    throw new CcidError(
      'CCID_BAD_MESSAGE',
      `unknown RDR_to_PC type 0x${h.messageType.toString(16)}`,
    );
  if (bytes.length !== CCID_HEADER_BYTES + h.length)
    throw new CcidError(
      'CCID_BAD_MESSAGE',
      `dwLength ${h.length} but ${bytes.length - CCID_HEADER_BYTES} data bytes`,
    );
  const bStatus = bytes[7] ?? 0;
  return {
    type,
    slot: h.slot,
    seq: h.seq,
    bStatus,
    bError: bytes[8] ?? 0,
    bSpecific: bytes[9] ?? 0,
    iccStatus: bStatus & 0x03,
    commandStatus: (bStatus >> 6) & 0x03,
    data: bytes.subarray(CCID_HEADER_BYTES),
  };
}

/** Encodes a RDR_to_PC message (for simulators and tests). `bStatus` wins over iccStatus/commandStatus. */
export function encodeResponse(
  r: Addressed & {
    type: CcidResponseType;
    bStatus?: number;
    iccStatus?: number;
    commandStatus?: number;
    bError?: number;
    bSpecific?: number;
    data?: Uint8Array;
  },
): Uint8Array {
  const data = r.data ?? EMPTY;
  const out = new Uint8Array(CCID_HEADER_BYTES + data.length);
  out[0] = RDR_to_PC[r.type];
  writeU32(out, 1, data.length);
  out[5] = r.slot;
  out[6] = r.seq & 0xff;
  out[7] = r.bStatus ?? ((r.commandStatus ?? 0) << 6) | (r.iccStatus ?? 0);
  out[8] = r.bError ?? 0;
  out[9] = r.bSpecific ?? 0;
  out.set(data, CCID_HEADER_BYTES);
  return out;
}

/** The RDR_to_PC type that answers each command (CCID rev 1.1 §6.1 table 6.1-1). */
export function responseTypeFor(cmd: CcidCommandType): CcidResponseType {
  switch (cmd) {
    case 'IccPowerOn':
    case 'XfrBlock':
    case 'Secure':
      return 'DataBlock';
    case 'GetParameters':
    case 'ResetParameters':
    case 'SetParameters':
      return 'Parameters';
    case 'Escape':
      return 'Escape';
    case 'SetDataRateAndClockFrequency':
      return 'DataRateAndClockFrequency';
    default:
      return 'SlotStatus';
  }
}

/** Interrupt-IN message (CCID rev 1.1 §6.3). */
export type CcidInterruptMessage =
  | { type: 'NotifySlotChange'; slots: { slot: number; isPresent: boolean; hasChanged: boolean }[] }
  | { type: 'HardwareError'; slot: number; seq: number; code: number }
  | { type: 'Unknown'; bytes: Uint8Array };

/**
 * Decodes an interrupt-IN message. NotifySlotChange carries 2 bits per slot (bit 2s present,
 * bit 2s+1 changed; §6.3.1); only slots < slotCount that the message covers are reported.
 * Anything else (short, unknown type) is returned as Unknown, never thrown (ccid.md §9.1).
 */
export function decodeInterrupt(bytes: Uint8Array, slotCount: number): CcidInterruptMessage {
  const t = bytes[0];
  if (t === RDR_to_PC_Interrupt.NotifySlotChange && bytes.length >= 2) {
    const slots: { slot: number; isPresent: boolean; hasChanged: boolean }[] = [];
    for (let s = 0; s < slotCount && 1 + (s >> 2) < bytes.length; s++) {
      const v = ((bytes[1 + (s >> 2)] ?? 0) >> (2 * (s & 3))) & 3;
      slots.push({ slot: s, isPresent: (v & 1) !== 0, hasChanged: (v & 2) !== 0 });
    }
    return { type: 'NotifySlotChange', slots };
  }
  if (t === RDR_to_PC_Interrupt.HardwareError && bytes.length >= 4) {
    return { type: 'HardwareError', slot: bytes[1] ?? 0, seq: bytes[2] ?? 0, code: bytes[3] ?? 0 };
  }
  return { type: 'Unknown', bytes: bytes.slice() };
}

/** Encodes NotifySlotChange (for simulators/tests): length 1 + ceil(slotCount / 4). */
export function encodeNotifySlotChange(
  slots: readonly { isPresent: boolean; hasChanged: boolean }[],
): Uint8Array {
  const out = new Uint8Array(1 + Math.ceil(slots.length / 4));
  out[0] = RDR_to_PC_Interrupt.NotifySlotChange;
  slots.forEach((s, i) => {
    out[1 + (i >> 2)]! |= ((s.isPresent ? 1 : 0) | (s.hasChanged ? 2 : 0)) << (2 * (i & 3));
  });
  return out;
}

/** Options of {@link CcidMessageAssembler}. */
export interface CcidMessageAssemblerOptions {
  /** Largest accepted message, header included, bytes. Default 65546 + 10. */
  maxMessageBytes?: number;
}

/**
 * Reassembles RDR_to_PC messages from bulk-IN transfer completions of any size (CCID rev 1.1
 * §6.2, ccid.md §4.1 and §16.2): a message may span many completions, zero-length completions are
 * skipped, and a declared length above the limit, or an unknown message type, is rejected as soon as
 * the header is seen: the buffered bytes are dropped (counted in `droppedBytes`) and assembly
 * restarts at the next completion, since each USB transfer starts on a message boundary.
 */
export class CcidMessageAssembler {
  readonly #max: number;
  readonly #buf = new ChunkBuffer();
  #need = -1;
  droppedBytes = 0;
  constructor(opts: CcidMessageAssemblerOptions = {}) {
    this.#max = opts.maxMessageBytes ?? 65546 + CCID_HEADER_BYTES;
  }
  /** 'header' while waiting for the first 10 bytes, 'payload' while a body is incomplete. */
  get state(): 'header' | 'payload' {
    return this.#need < 0 ? 'header' : 'payload';
  }
  get bufferedBytes(): number {
    return this.#buf.length;
  }
  /** Feeds one transfer completion; returns the whole messages it completed. */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    if (chunk.length === 0) return out;
    this.#buf.push(chunk);
    for (;;) {
      if (this.#need < 0) {
        if (this.#buf.length < CCID_HEADER_BYTES) break;
        const h = peekHeader(this.#buf.bytes());
        if (h.kind !== 'header') break;
        if (!isResponseType(h.messageType) || h.length + CCID_HEADER_BYTES > this.#max) {
          this.reset(true);
          break;
        }
        this.#need = h.length + CCID_HEADER_BYTES;
      }
      if (this.#buf.length < this.#need) break;
      const all = this.#buf.bytes();
      out.push(all.slice(0, this.#need));
      this.#buf.keep(all.subarray(this.#need));
      this.#need = -1;
    }
    return out;
  }
  /** Drops any partial message (e.g. after an abort or a stall). */
  reset(countDropped = true): void {
    if (countDropped) this.droppedBytes += this.#buf.length;
    this.#buf.keep();
    this.#need = -1;
  }
}
