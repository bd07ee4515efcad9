/**
 * The reader's CCID firmware: decodes PC_to_RDR messages, drives the card in each slot at the
 * profile's exchange level and produces RDR_to_PC messages (CCID Rev 1.1 §6). It knows nothing
 * about USB packets; SimulatedReader feeds it whole messages and carries its answers.
 */
import { parseCommandApdu } from './apdu.ts';
import { parseSimAtr, type SimAtrInfo } from './atr.ts';
import { concatBytes, readLe16, readLe32, writeLe32 } from './bytes.ts';
import {
  CCID_ERROR,
  DI_TABLE,
  FI_TABLE,
  PC_to_RDR,
  RDR_to_PC,
  RDR_to_PC_Interrupt,
  responseTypeFor,
} from './ccid-constants.ts';
import type { FaultInjector } from './faults.ts';
import {
  CCID_FEATURE,
  exchangeLevelOf,
  type ExchangeLevel,
  type ReaderProfile,
} from './profiles.ts';
import { T0CardEngine } from './t0-card.ts';
import { T1CardEngine, type T1CardState } from './t1-card.ts';
import type { VirtualCard } from './virtual-card.ts';

/** What the firmware needs from its USB side. */
export interface FirmwareHost {
  /** Queue one complete RDR_to_PC message on bulk-IN. */
  sendBulk(message: Uint8Array): void;
  /** A slot's presence changed: an interrupt NotifySlotChange is due. */
  slotChanged(): void;
  /** Queue an interrupt message (HardwareError). */
  sendInterrupt(message: Uint8Array): void;
  /** Unplug the device (fault injection). */
  unplug(): void;
  /** Wait `ms` (0 = next microtask). */
  delay(ms: number): Promise<void>;
  readonly faults: FaultInjector;
  readonly isGone: () => boolean;
}

/** Reader-side view of one slot, for tests and diagnostics. */
export interface SlotSnapshot {
  readonly hasCard: boolean;
  readonly isPowered: boolean;
  /** Protocol and FI/DI the card currently runs at (after ATR / PPS). */
  readonly cardProtocol: 0 | 1 | null;
  readonly cardFidi: number;
  /** Protocol and FI/DI the reader is configured for (SetParameters / automatic). */
  readonly readerProtocol: 0 | 1;
  readonly readerParameters: Uint8Array;
  readonly t1: T1CardState | null;
  readonly ppsDone: boolean;
}

interface Slot {
  readonly index: number;
  card: VirtualCard | null;
  atr: SimAtrInfo | null;
  powered: boolean;
  cardProtocol: 0 | 1;
  cardFidi: number;
  ppsAllowed: boolean;
  ppsDone: boolean;
  isCardConfused: boolean; // a failed PPS left the card waiting for a reset
  readerProtocol: 0 | 1;
  readerParams: Uint8Array;
  t0: T0CardEngine | null;
  t1: T1CardEngine | null;
  busy: boolean;
  cmdChain: Uint8Array[] | null;
  respChain: Uint8Array | null;
  abortControlSeq: number | null;
  abortBulk: { seq: number } | null;
  changed: boolean;
  clockStatus: number;
  classGetResponse: number;
  classEnvelope: number;
  generation: number;
}

interface Reply {
  type?: number;
  status?: number; // bmCommandStatus (0 ok, 1 failed)
  error?: number;
  b9?: number;
  data?: Uint8Array;
}

const T0_DEFAULT_PARAMS = Uint8Array.of(0x11, 0x00, 0x00, 0x0a, 0x00);

/** Bit rate in bps for a FI/DI byte at `clockKhz` (ISO 7816-3 §7.1), 0 when RFU. */
function bitRate(fidi: number, clockKhz: number): number {
  const f = FI_TABLE[fidi >> 4] ?? 0;
  const d = DI_TABLE[fidi & 0x0f] ?? 0;
  return f && d ? (clockKhz * 1000 * d) / f : 0;
}

/** The card accepts `fidi` if it is Fd/Dd or TA1 itself or TA1's F with a smaller D (§9.2). */
function cardAcceptsFidi(ta1: number, fidi: number): boolean {
  if (fidi === 0x11 || fidi === ta1) return true;
  if (fidi >> 4 !== ta1 >> 4) return false;
  const d = DI_TABLE[fidi & 0x0f] ?? 0;
  return d > 0 && d <= (DI_TABLE[ta1 & 0x0f] ?? 0);
}

/** CCID firmware of one simulated reader interface. */
export class CcidFirmware {
  readonly profile: ReaderProfile;
  readonly level: ExchangeLevel;
  readonly #host: FirmwareHost;
  readonly #slots: Slot[];
  #busyCount = 0;

  constructor(profile: ReaderProfile, host: FirmwareHost) {
    this.profile = profile;
    const level = exchangeLevelOf(profile.features);
    if (level === 'invalid') throw new RangeError('invalid exchange level');
    this.level = level;
    this.#host = host;
    this.#slots = Array.from({ length: profile.maxSlotIndex + 1 }, (_, index) => ({
      index,
      card: null,
      atr: null,
      powered: false,
      cardProtocol: 0,
      cardFidi: 0x11,
      ppsAllowed: false,
      ppsDone: false,
      isCardConfused: false,
      readerProtocol: 0,
      readerParams: T0_DEFAULT_PARAMS.slice(),
      t0: null,
      t1: null,
      busy: false,
      cmdChain: null,
      respChain: null,
      abortControlSeq: null,
      abortBulk: null,
      changed: false,
      clockStatus: 0,
      classGetResponse: profile.classGetResponse,
      classEnvelope: profile.classEnvelope,
      generation: 0,
    }));
  }

  #has(f: number): boolean {
    return (this.profile.features & f) !== 0;
  }

  #maxIfsd(): number {
    const v = this.profile.maxIfsd;
    return v === 0 || v > 254 ? 254 : v;
  }

  // ---- card handling ---------------------------------------------------------------------------

  insertCard(slot: number, card: VirtualCard): void {
    const s = this.#slots[slot]!;
    s.card = card;
    s.atr = parseSimAtr(card.atr);
    s.powered = false;
    s.generation++;
    s.changed = true;
    this.#host.slotChanged();
  }

  removeCard(slot: number): void {
    const s = this.#slots[slot]!;
    if (!s.card) return;
    s.card = null;
    s.atr = null;
    s.powered = false;
    s.t0 = null;
    s.t1 = null;
    s.cmdChain = null;
    s.respChain = null;
    s.generation++;
    s.changed = true;
    this.#host.slotChanged();
  }

  /** USB reset / power cycle of the reader: all cards deactivated. */
  resetAll(): void {
    for (const s of this.#slots) {
      s.powered = false;
      s.busy = false;
      s.cmdChain = null;
      s.respChain = null;
      s.abortBulk = null;
      s.abortControlSeq = null;
    }
    this.#busyCount = 0;
  }

  snapshot(slot: number): SlotSnapshot {
    const s = this.#slots[slot]!;
    return {
      hasCard: s.card !== null,
      isPowered: s.powered,
      cardProtocol: s.card && s.powered ? s.cardProtocol : null,
      cardFidi: s.cardFidi,
      readerProtocol: s.readerProtocol,
      readerParameters: s.readerParams.slice(),
      t1: s.t1?.state ?? null,
      ppsDone: s.ppsDone,
    };
  }

  /** NotifySlotChange (CCID §6.3.1): 2 bits per slot, present + changed; clears the changed bits. */
  takeSlotChangeMessage(force = false): Uint8Array | null {
    if (!force && !this.#slots.some((s) => s.changed)) return null;
    const msg = new Uint8Array(1 + Math.ceil(this.#slots.length / 4));
    msg[0] = RDR_to_PC_Interrupt.NotifySlotChange;
    for (const s of this.#slots) {
      const bits = (s.card ? 1 : 0) | (s.changed ? 2 : 0);
      msg[1 + (s.index >> 2)]! |= bits << ((s.index & 3) * 2);
      s.changed = false;
    }
    return msg;
  }

  hardwareError(slot: number, seq: number, code: number): void {
    this.#host.sendInterrupt(Uint8Array.of(RDR_to_PC_Interrupt.HardwareError, slot, seq, code));
  }

  /** Class request ABORT (CCID §5.3.1): wValue = bSeq << 8 | bSlot. */
  controlAbort(slot: number, seq: number): boolean {
    const s = this.#slots[slot];
    if (!s) return false;
    s.abortControlSeq = seq;
    if (s.abortBulk && s.abortBulk.seq === seq) this.#finishAbort(s, seq);
    return true;
  }

  #finishAbort(s: Slot, seq: number): void {
    s.abortBulk = null;
    s.abortControlSeq = null;
    s.cmdChain = null;
    s.respChain = null;
    this.#host.sendBulk(this.#encode(RDR_to_PC.SlotStatus, s, seq, { b9: s.clockStatus }));
  }

  // ---- message encoding ------------------------------------------------------------------------

  #iccStatus(s: Slot): number {
    if (!s.card) return 2;
    return s.powered ? 0 : 1;
  }

  #encode(type: number, s: Slot | { index: number }, seq: number, r: Reply): Uint8Array {
    const data = r.data ?? new Uint8Array(0);
    const msg = new Uint8Array(10 + data.length);
    msg[0] = r.type ?? type;
    writeLe32(msg, 1, data.length);
    msg[5] = s.index;
    msg[6] = seq;
    const icc = 'card' in s ? this.#iccStatus(s as Slot) : 2;
    msg[7] = ((r.status ?? 0) << 6) | icc;
    msg[8] = r.error ?? 0;
    msg[9] = r.b9 ?? 0;
    msg.set(data, 10);
    return msg;
  }

  // ---- command dispatch ------------------------------------------------------------------------

  /** Answers a command whose dwLength exceeds dwMaxCCIDMessageLength (CCID §6.2.6, offset 1). */
  rejectBadLength(header: Uint8Array): void {
    const slotIndex = header[5] ?? 0;
    const s = this.#slots[slotIndex] ?? { index: slotIndex };
    const reply = { status: 1, error: CCID_ERROR.BAD_LENGTH };
    this.#host.sendBulk(this.#encode(responseTypeFor(header[0] ?? 0), s, header[6] ?? 0, reply));
  }

  /** Handles one complete PC_to_RDR message (header + abData). */
  handleMessage(msg: Uint8Array): void {
    const type = msg[0] ?? 0;
    const slotIndex = msg[5] ?? 0;
    const seq = msg[6] ?? 0;
    const rtype = responseTypeFor(type);
    const s = this.#slots[slotIndex];
    if (!s) {
      // CCID §6.2.6: bad bSlot → error offset 5.
      this.#host.sendBulk(
        this.#encode(rtype, { index: slotIndex }, seq, { status: 1, error: CCID_ERROR.BAD_SLOT }),
      );
      return;
    }
    if (s.abortControlSeq !== null || s.abortBulk) {
      if (type === PC_to_RDR.Abort) {
        if (s.abortControlSeq === seq) this.#finishAbort(s, seq);
        else s.abortBulk = { seq };
        return;
      }
      this.#host.sendBulk(
        this.#encode(rtype, s, seq, { status: 1, error: CCID_ERROR.CMD_ABORTED }),
      );
      return;
    }
    if (type === PC_to_RDR.Abort) {
      // Waits for the matching class request ABORT (CCID §5.3.1 / §6.1.13).
      s.abortBulk = { seq };
      return;
    }
    if (s.busy || this.#busyCount >= this.profile.maxBusySlots) {
      this.#host.sendBulk(
        this.#encode(rtype, s, seq, { status: 1, error: CCID_ERROR.CMD_SLOT_BUSY }),
      );
      return;
    }
    s.busy = true;
    this.#busyCount++;
    void this.#run(type, s, seq, msg).then(
      (reply) => this.#complete(s, seq, rtype, reply),
      () => this.#complete(s, seq, rtype, { status: 1, error: CCID_ERROR.HW_ERROR }),
    );
  }

  #complete(s: Slot, seq: number, rtype: number, reply: Reply | null): void {
    s.busy = false;
    this.#busyCount = Math.max(0, this.#busyCount - 1);
    if (this.#host.isGone() || reply === null) return;
    if (s.abortControlSeq === seq) {
      // The command was aborted while running (CCID §5.3.1).
      this.#host.sendBulk(
        this.#encode(rtype, s, seq, { status: 1, error: CCID_ERROR.CMD_ABORTED }),
      );
      return;
    }
    this.#host.sendBulk(this.#encode(rtype, s, seq, reply));
  }

  async #run(type: number, s: Slot, seq: number, msg: Uint8Array): Promise<Reply | null> {
    await this.#host.delay(0);
    const data = msg.subarray(10);
    switch (type) {
      case PC_to_RDR.IccPowerOn:
        return this.#powerOn(s, msg[7] ?? 0, data.length);
      case PC_to_RDR.IccPowerOff:
        s.powered = false;
        s.t0 = null;
        s.t1 = null;
        s.cmdChain = null;
        s.respChain = null;
        return { b9: 0 };
      case PC_to_RDR.GetSlotStatus:
        if (!s.card && this.profile.absentSlotStatus === 'failed')
          return { status: 1, error: CCID_ERROR.ICC_MUTE };
        return { b9: s.powered ? s.clockStatus : 0 };
      case PC_to_RDR.XfrBlock:
        return this.#xfrBlock(s, seq, msg);
      case PC_to_RDR.GetParameters:
        if (!s.card) return { status: 1, error: CCID_ERROR.ICC_MUTE };
        return { b9: s.readerProtocol, data: s.readerParams.slice() };
      case PC_to_RDR.ResetParameters:
        if (!s.card) return { status: 1, error: CCID_ERROR.ICC_MUTE };
        this.#defaultReaderParams(s);
        return { b9: s.readerProtocol, data: s.readerParams.slice() };
      case PC_to_RDR.SetParameters:
        return this.#setParameters(s, msg[7] ?? 0, data);
      case PC_to_RDR.Escape:
        return { status: 1, error: CCID_ERROR.CMD_NOT_SUPPORTED };
      case PC_to_RDR.IccClock:
        return this.#iccClock(s, msg[7] ?? 0);
      case PC_to_RDR.T0APDU: {
        const changes = msg[7] ?? 0;
        if (changes & ~0x03) return { status: 1, error: CCID_ERROR.BAD_POWERSELECT };
        if (changes & 1) s.classGetResponse = msg[8] ?? 0;
        if (changes & 2) s.classEnvelope = msg[9] ?? 0;
        return { b9: s.clockStatus };
      }
      case PC_to_RDR.Secure:
        // No PIN pad is simulated (bPINSupport is advertised only for descriptor fidelity).
        return { status: 1, error: CCID_ERROR.CMD_NOT_SUPPORTED };
      case PC_to_RDR.Mechanical: {
        const fn = msg[7] ?? 0;
        if (this.profile.mechanical === 0)
          return { status: 1, error: CCID_ERROR.CMD_NOT_SUPPORTED };
        if (fn < 1 || fn > 5) return { status: 1, error: CCID_ERROR.BAD_POWERSELECT };
        return { b9: s.clockStatus };
      }
      case PC_to_RDR.SetDataRateAndClockFrequency: {
        if (data.length !== 8) return { status: 1, error: CCID_ERROR.BAD_LENGTH };
        const clock = Math.min(readLe32(data, 0), this.profile.maxClockKhz);
        const rate = Math.min(readLe32(data, 4), this.profile.maxDataRate);
        const out = new Uint8Array(8);
        writeLe32(out, 0, clock);
        writeLe32(out, 4, rate);
        return { data: out };
      }
      default:
        // CCID §6.2.6: unknown command → bError 0 "command not supported".
        return { status: 1, error: CCID_ERROR.CMD_NOT_SUPPORTED };
    }
  }

  // ---- power -----------------------------------------------------------------------------------

  #powerOn(s: Slot, powerSelect: number, dataLength: number): Reply {
    if (dataLength !== 0) return { status: 1, error: CCID_ERROR.BAD_LENGTH };
    if (powerSelect > 3) return { status: 1, error: CCID_ERROR.BAD_POWERSELECT };
    if (powerSelect !== 0) {
      const bit = [0, 1, 2, 4][powerSelect]!;
      if ((this.profile.voltageSupport & bit) === 0)
        return { status: 1, error: CCID_ERROR.BAD_POWERSELECT };
    }
    const card = s.card;
    if (!card || !s.atr) return { status: 1, error: CCID_ERROR.ICC_MUTE };
    if (powerSelect !== 0) {
      const bit = [0, 1, 2, 4][powerSelect]!;
      if (((card.voltageClasses ?? 0x07) & bit) === 0) {
        s.powered = false;
        return { status: 1, error: CCID_ERROR.ICC_CLASS_NOT_SUPPORTED };
      }
    }
    card.reset?.();
    const atr = s.atr;
    s.powered = true;
    s.clockStatus = 0;
    s.isCardConfused = false;
    s.ppsDone = false;
    s.ppsAllowed = true;
    s.cmdChain = null;
    s.respChain = null;
    // ISO 7816-3 §6.3.1: after the ATR the card runs its first offered protocol at Fd/Dd,
    // or the TA2-specific protocol at TA1.
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
    this.#defaultReaderParams(s);
    if (this.#has(CCID_FEATURE.autoParamNegotiation) && atr.specificProtocol === null) {
      // 0x40: the reader negotiates by itself (PPS to TA1 when it can, CCID §5.1 dwFeatures).
      const proto = this.#readerSupports(s.cardProtocol)
        ? s.cardProtocol
        : (atr.protocols.find((p) => this.#readerSupports(p)) ?? 0);
      const fidi =
        bitRate(atr.ta1, this.profile.defaultClockKhz) <= this.profile.maxDataRate * 1.01
          ? atr.ta1
          : 0x11;
      s.cardProtocol = proto;
      s.cardFidi = fidi;
      s.ppsAllowed = false;
      s.ppsDone = true;
      this.#defaultReaderParams(s);
    }
    if (this.level === 'tpdu' && s.cardProtocol === 1 && s.readerProtocol === 1) this.#autoIfsd(s);
    return { data: card.atr.slice() };
  }

  #readerSupports(p: number): boolean {
    return (this.profile.protocols & (1 << p)) !== 0;
  }

  /** Reader parameters after reset: from the ATR with 0x02 (or 0x40), else the CCID defaults. */
  #defaultReaderParams(s: Slot): void {
    const atr = s.atr;
    const isAuto =
      this.#has(CCID_FEATURE.autoConfigFromAtr) || this.#has(CCID_FEATURE.autoParamNegotiation);
    if (atr && isAuto && this.#readerSupports(s.cardProtocol)) {
      s.readerProtocol = s.cardProtocol;
      if (s.cardProtocol === 1) {
        s.readerParams = Uint8Array.of(
          s.cardFidi,
          0x10 | (atr.edc === 'crc' ? 1 : 0),
          0x00,
          atr.tb3,
          0x00,
          atr.ifsc,
          0x00,
        );
      } else {
        s.readerParams = Uint8Array.of(s.cardFidi, 0x00, 0x00, 0x0a, 0x00);
      }
    } else {
      s.readerProtocol = 0;
      s.readerParams = T0_DEFAULT_PARAMS.slice();
    }
  }

  /** 0x400: the reader sends S(IFS request) with its dwMaxIFSD as the first T=1 exchange. */
  #autoIfsd(s: Slot): void {
    if (this.#has(CCID_FEATURE.autoIfsd)) s.t1?.setIfsdByReader(this.#maxIfsd());
  }

  #iccClock(s: Slot, command: number): Reply {
    if (!this.#has(CCID_FEATURE.clockStop))
      return { status: 1, error: CCID_ERROR.CMD_NOT_SUPPORTED };
    if (command > 1) return { status: 1, error: CCID_ERROR.BAD_POWERSELECT };
    if (!s.card || !s.powered) return { status: 1, error: CCID_ERROR.ICC_MUTE };
    s.clockStatus = command === 1 ? 0x01 : 0x00;
    return { b9: s.clockStatus };
  }

  // ---- parameters ------------------------------------------------------------------------------

  #setParameters(s: Slot, protocolNum: number, data: Uint8Array): Reply {
    if (protocolNum > 1)
      return { status: 1, error: CCID_ERROR.BAD_PROTOCOLNUM, b9: s.readerProtocol };
    const expectedLength = protocolNum === 0 ? 5 : 7;
    if (data.length !== expectedLength)
      return { status: 1, error: CCID_ERROR.BAD_LENGTH, b9: s.readerProtocol };
    if (!this.#readerSupports(protocolNum))
      return { status: 1, error: CCID_ERROR.BAD_PROTOCOLNUM, b9: s.readerProtocol };
    if (!s.card || !s.atr) return { status: 1, error: CCID_ERROR.ICC_MUTE, b9: s.readerProtocol };
    // Field checks (CCID §6.1.7; error = offset of the field in the message).
    const fidi = data[0] ?? 0;
    if (!FI_TABLE[fidi >> 4] || !DI_TABLE[fidi & 0x0f]) return this.#paramError(s, 10);
    if (
      bitRate(fidi, this.profile.maxClockKhz) > this.profile.maxDataRate * 1.01 &&
      fidi !== 0x11
    ) {
      return this.#paramError(s, 10);
    }
    const tcck = data[1] ?? 0;
    if (protocolNum === 0 && (tcck & ~0x02) !== 0) return this.#paramError(s, 11);
    if (protocolNum === 1 && (tcck & ~0x03) !== 0x10) return this.#paramError(s, 11);
    if (protocolNum === 1 && (data[3] ?? 0) >> 4 > 9) return this.#paramError(s, 13);
    if ((data[4] ?? 0) > 3) return this.#paramError(s, 14);
    if (protocolNum === 1) {
      const ifsc = data[5] ?? 0;
      if (ifsc < 1 || ifsc > 254) return this.#paramError(s, 15);
      if ((data[6] ?? 0) !== 0 && !this.#has(CCID_FEATURE.nadOtherThanZero))
        return this.#paramError(s, 16);
    }
    if (this.level === 'tpdu' && !this.#has(CCID_FEATURE.autoParamNegotiation)) {
      const differs = protocolNum !== s.cardProtocol || fidi !== s.cardFidi;
      if (differs && this.#has(CCID_FEATURE.autoPps)) {
        // 0x80: the reader performs the PPS itself (ISO 7816-3 §9) before applying the parameters.
        if (
          !s.powered ||
          !s.ppsAllowed ||
          !s.atr.protocols.includes(protocolNum as 0 | 1) ||
          !cardAcceptsFidi(s.atr.ta1, fidi)
        ) {
          return this.#paramError(s, 10);
        }
        s.cardProtocol = protocolNum as 0 | 1;
        s.cardFidi = fidi;
        s.ppsAllowed = false;
        s.ppsDone = true;
      }
    }
    if (!this.#has(CCID_FEATURE.autoParamNegotiation)) {
      s.readerProtocol = protocolNum as 0 | 1;
      s.readerParams = data.slice();
    }
    if (this.level === 'tpdu' && s.readerProtocol === 1 && s.cardProtocol === 1) this.#autoIfsd(s);
    return { b9: s.readerProtocol, data: s.readerParams.slice() };
  }

  #paramError(s: Slot, offset: number): Reply {
    return { status: 1, error: offset, b9: s.readerProtocol, data: s.readerParams.slice() };
  }

  // ---- XfrBlock --------------------------------------------------------------------------------

  async #xfrBlock(s: Slot, seq: number, msg: Uint8Array): Promise<Reply | null> {
    const data = msg.subarray(10);
    const level = readLe16(msg, 8);
    if (!s.card) return { status: 1, error: CCID_ERROR.ICC_MUTE };
    if (!s.powered) return { status: 1, error: CCID_ERROR.ICC_MUTE };
    const generation = s.generation;
    const faults = this.#host.faults;
    if (faults.shouldFire('unplugMidTransfer')) {
      this.#host.unplug();
      return null;
    }
    // Time extensions (CCID §6.2.7): a slow card and/or a slow reader.
    const slow = faults.shouldFire('slowReader') ? faults.plan.slowReader : undefined;
    const extensions = (s.card.timeExtensions ?? 0) + (slow ? (slow.timeExtensions ?? 3) : 0);
    for (let i = 0; i < extensions; i++) {
      await this.#host.delay(slow?.intervalMs ?? 0);
      if (this.#host.isGone()) return null;
      if (s.abortControlSeq === seq) return { status: 1, error: CCID_ERROR.CMD_ABORTED };
      if (s.generation !== generation) return { status: 1, error: CCID_ERROR.ICC_MUTE };
      this.#host.sendBulk(
        this.#encode(RDR_to_PC.DataBlock, s, seq, { status: 2, error: slow?.multiplier ?? 1 }),
      );
    }
    if (faults.shouldFire('cardPulledMidApdu')) {
      this.removeCard(s.index);
      return { status: 1, error: CCID_ERROR.ICC_MUTE };
    }
    let reply: Reply;
    switch (this.level) {
      case 'tpdu':
        reply = await this.#xfrTpdu(s, data, level);
        break;
      case 'short-apdu':
        reply = await this.#xfrShortApdu(s, data, level);
        break;
      case 'extended-apdu':
        reply = await this.#xfrExtendedApdu(s, data, level);
        break;
      default:
        reply = { status: 1, error: CCID_ERROR.CMD_NOT_SUPPORTED };
    }
    if (s.generation !== generation || !s.card) return { status: 1, error: CCID_ERROR.ICC_MUTE };
    return reply;
  }

  async #xfrTpdu(s: Slot, data: Uint8Array, level: number): Promise<Reply> {
    if (level !== 0) return { status: 1, error: CCID_ERROR.BAD_LEVELPARAMETER };
    if (data.length === 0) return { status: 1, error: CCID_ERROR.BAD_LENGTH };
    if (s.isCardConfused) return { status: 1, error: CCID_ERROR.ICC_MUTE };
    const ppsAllowed = s.ppsAllowed;
    s.ppsAllowed = false;
    if (ppsAllowed && data[0] === 0xff) return this.#pps(s, data);
    // The reader talks at its configured protocol/speed; if the card runs another, nothing
    // intelligible comes back (the host forgot PPS or SetParameters).
    if (s.readerProtocol !== s.cardProtocol || (s.readerParams[0] ?? 0x11) !== s.cardFidi) {
      return { status: 1, error: CCID_ERROR.ICC_MUTE };
    }
    if (s.cardProtocol === 0) {
      const out = await s.t0!.exchange(data);
      if (out.kind === 'bad-tpdu') return { status: 1, error: CCID_ERROR.BAD_LENGTH };
      return { data: out.response };
    }
    let block = await s.t1!.receive(data);
    if (this.#host.faults.shouldFire('corruptT1Block')) {
      block = block.slice();
      const at = block.length - 1;
      block[at] = (block[at] ?? 0) ^ 0x5a;
    }
    return { data: block };
  }

  /** PPS exchange sent by the host in an XfrBlock (ISO 7816-3 §9.2, ccid.md §13.1). */
  #pps(s: Slot, req: Uint8Array): Reply {
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
      return { status: 1, error: CCID_ERROR.ICC_MUTE };
    }
    s.cardProtocol = t as 0 | 1;
    s.cardFidi = fidi;
    s.ppsDone = true;
    return { data: req.slice() };
  }

  async #apduToCard(s: Slot, apdu: Uint8Array): Promise<Uint8Array> {
    const card = s.card!;
    if (s.cardProtocol === 1) return card.process(apdu);
    // T=0 card behind an APDU-level reader: the reader builds TPDUs (ISO 7816-3 §12.2).
    const cmd = parseCommandApdu(apdu);
    if (!cmd) return Uint8Array.of(0x67, 0x00);
    if (cmd.isExtended) return Uint8Array.of(0x67, 0x00); // no ENVELOPE support in the simulated firmware
    const t0 = s.t0!;
    const header = apdu.subarray(0, 4);
    let tpdu: Uint8Array;
    if (cmd.case === 1) tpdu = concatBytes(header, Uint8Array.of(0));
    else if (cmd.case === 2) tpdu = apdu.slice(0, 5);
    else tpdu = concatBytes(header, Uint8Array.of(cmd.data.length), cmd.data);
    let out = await t0.exchange(tpdu);
    if (out.kind !== 'ok') return Uint8Array.of(0x67, 0x00);
    if (this.profile.apduT0Handling === 'passthrough') return out.response;
    const parts: Uint8Array[] = [];
    let collected = 0;
    for (let guard = 0; guard < 600; guard++) {
      const r = out.response;
      const sw1 = r[r.length - 2] ?? 0;
      const sw2 = r[r.length - 1] ?? 0;
      if (sw1 === 0x6c && cmd.case === 2) {
        out = await t0.exchange(concatBytes(header, Uint8Array.of(sw2)));
        if (out.kind !== 'ok') return Uint8Array.of(0x67, 0x00);
        continue;
      }
      if (sw1 === 0x61 && (cmd.ne !== null || parts.length > 0 || cmd.case === 2)) {
        const data = r.subarray(0, r.length - 2);
        parts.push(data);
        collected += data.length;
        if (cmd.ne !== null && collected >= cmd.ne) {
          // Ne satisfied: the host gets the data and the card's 61xx (more available).
          parts.push(r.subarray(r.length - 2));
          break;
        }
        const avail = sw2 === 0 ? 256 : sw2;
        const want = cmd.ne === null ? avail : Math.min(avail, cmd.ne - collected);
        const cla = s.classGetResponse === 0xff ? cmd.cla : s.classGetResponse;
        out = await t0.exchange(Uint8Array.of(cla, 0xc0, 0x00, 0x00, want === 256 ? 0 : want));
        if (out.kind !== 'ok') return Uint8Array.of(0x67, 0x00);
        continue;
      }
      parts.push(r);
      break;
    }
    return concatBytes(...parts);
  }

  async #xfrShortApdu(s: Slot, data: Uint8Array, level: number): Promise<Reply> {
    if (level !== 0) return { status: 1, error: CCID_ERROR.BAD_LEVELPARAMETER };
    if (data.length === 0) return { status: 1, error: CCID_ERROR.BAD_LENGTH };
    const resp = await this.#apduToCard(s, data);
    if (resp.length > this.profile.maxMessageLength - 10) {
      return { status: 1, error: CCID_ERROR.XFR_OVERRUN };
    }
    return { data: resp };
  }

  /** Extended APDU level with chaining both ways (CCID §6.1.4 wLevelParameter, §6.2.1 bChainParameter). */
  async #xfrExtendedApdu(s: Slot, data: Uint8Array, level: number): Promise<Reply> {
    const max = this.profile.maxMessageLength - 10;
    switch (level) {
      case 0x0000:
        s.cmdChain = null;
        s.respChain = null;
        if (data.length === 0) return { status: 1, error: CCID_ERROR.BAD_LENGTH };
        return this.#sendResponseChunk(s, await this.#apduToCard(s, data), max, true);
      case 0x0001:
        s.respChain = null;
        s.cmdChain = [data.slice()];
        return { b9: 0x10 };
      case 0x0003:
        if (!s.cmdChain) return { status: 1, error: CCID_ERROR.BAD_LEVELPARAMETER };
        s.cmdChain.push(data.slice());
        return { b9: 0x10 };
      case 0x0002: {
        if (!s.cmdChain) return { status: 1, error: CCID_ERROR.BAD_LEVELPARAMETER };
        s.cmdChain.push(data.slice());
        const apdu = concatBytes(...s.cmdChain);
        s.cmdChain = null;
        return this.#sendResponseChunk(s, await this.#apduToCard(s, apdu), max, true);
      }
      case 0x0010:
        if (!s.respChain || data.length !== 0)
          return { status: 1, error: CCID_ERROR.BAD_LEVELPARAMETER };
        return this.#sendResponseChunk(s, s.respChain, max, false);
      default:
        return { status: 1, error: CCID_ERROR.BAD_LEVELPARAMETER };
    }
  }

  #sendResponseChunk(s: Slot, resp: Uint8Array, max: number, isFirst: boolean): Reply {
    if (resp.length <= max) {
      s.respChain = null;
      return { data: resp.slice(), b9: isFirst ? 0x00 : 0x02 };
    }
    s.respChain = resp.slice(max);
    return { data: resp.slice(0, max), b9: isFirst ? 0x01 : 0x03 };
  }
}
