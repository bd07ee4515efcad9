/**
 * The reader's CCID firmware: decodes PC_to_RDR messages, drives the card in each slot at the
 * profile's exchange level and produces RDR_to_PC messages (CCID Rev 1.1 §6). It knows nothing
 * about USB packets; SimulatedReader feeds it whole messages and carries its answers.
 *
 * This module owns the slots, command admission (bad slot, busy, abort) and XfrBlock's timing
 * (time extensions, faults); the command families live in ./firmware/.
 */
import { parseSimAtr } from './atr.ts';
import { readLe16 } from './bytes.ts';
import {
  CCID_ERROR,
  PC_to_RDR,
  RDR_to_PC,
  RDR_to_PC_Interrupt,
  responseTypeFor,
} from './ccid-constants.ts';
import type { FaultInjector, FaultPlan } from './faults.ts';
import type { ExchangeLevel, ReaderProfile } from './profiles.ts';
import type { VirtualCard } from './virtual-card.ts';
import { ReaderCaps } from './firmware/caps.ts';
import { COMMAND_HANDLERS } from './firmware/commands.ts';
import { exchangeAtLevel } from './firmware/exchange.ts';
import {
  clearChains,
  createSlot,
  encodeReply,
  failed,
  snapshotOf,
  type Reply,
  type Slot,
  type SlotSnapshot,
} from './firmware/slot.ts';

export type { SlotSnapshot } from './firmware/slot.ts';

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

/** CCID firmware of one simulated reader interface. */
export class CcidFirmware {
  readonly profile: ReaderProfile;
  readonly level: ExchangeLevel;
  readonly #caps: ReaderCaps;
  readonly #host: FirmwareHost;
  readonly #slots: Slot[];
  #busyCount = 0;

  constructor(profile: ReaderProfile, host: FirmwareHost) {
    this.#caps = new ReaderCaps(profile);
    this.profile = profile;
    this.level = this.#caps.level;
    this.#host = host;
    this.#slots = Array.from({ length: profile.maxSlotIndex + 1 }, (_, index) =>
      createSlot(index, profile),
    );
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
    clearChains(s);
    s.generation++;
    s.changed = true;
    this.#host.slotChanged();
  }

  /** USB reset / power cycle of the reader: all cards deactivated. */
  resetAll(): void {
    for (const s of this.#slots) {
      s.powered = false;
      s.busy = false;
      clearChains(s);
      s.abortBulk = null;
      s.abortControlSeq = null;
    }
    this.#busyCount = 0;
  }

  snapshot(slot: number): SlotSnapshot {
    return snapshotOf(this.#slots[slot]!);
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

  // ---- abort -----------------------------------------------------------------------------------

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
    clearChains(s);
    this.#host.sendBulk(encodeReply(RDR_to_PC.SlotStatus, s, seq, { b9: s.clockStatus }));
  }

  /** A bulk Abort: completes the abort if the class request came first, else waits for it. */
  #bulkAbort(s: Slot, seq: number): void {
    if (s.abortControlSeq === seq) this.#finishAbort(s, seq);
    else s.abortBulk = { seq };
  }

  // ---- command dispatch ------------------------------------------------------------------------

  /** Answers a command whose dwLength exceeds dwMaxCCIDMessageLength (CCID §6.2.6, offset 1). */
  rejectBadLength(header: Uint8Array): void {
    const slotIndex = header[5] ?? 0;
    const s = this.#slots[slotIndex] ?? { index: slotIndex };
    const reply = failed(CCID_ERROR.BAD_LENGTH);
    this.#host.sendBulk(encodeReply(responseTypeFor(header[0] ?? 0), s, header[6] ?? 0, reply));
  }

  /** Handles one complete PC_to_RDR message (header + abData). */
  handleMessage(msg: Uint8Array): void {
    const type = msg[0] ?? 0;
    const slotIndex = msg[5] ?? 0;
    const seq = msg[6] ?? 0;
    const rtype = responseTypeFor(type);
    const s = this.#slots[slotIndex];
    // CCID §6.2.6: bad bSlot → error offset 5.
    if (!s) return this.#refuse(rtype, { index: slotIndex }, seq, CCID_ERROR.BAD_SLOT);
    if (s.abortControlSeq !== null || s.abortBulk) {
      if (type === PC_to_RDR.Abort) return this.#bulkAbort(s, seq);
      return this.#refuse(rtype, s, seq, CCID_ERROR.CMD_ABORTED);
    }
    // Waits for the matching class request ABORT (CCID §5.3.1 / §6.1.13).
    if (type === PC_to_RDR.Abort) return this.#bulkAbort(s, seq);
    if (s.busy || this.#busyCount >= this.profile.maxBusySlots) {
      return this.#refuse(rtype, s, seq, CCID_ERROR.CMD_SLOT_BUSY);
    }
    s.busy = true;
    this.#busyCount++;
    void this.#run(type, s, seq, msg).then(
      (reply) => this.#complete(s, seq, rtype, reply),
      () => this.#complete(s, seq, rtype, failed(CCID_ERROR.HW_ERROR)),
    );
  }

  /** Answers a command the firmware does not run with `error`. */
  #refuse(rtype: number, s: Slot | { index: number }, seq: number, error: number): void {
    this.#host.sendBulk(encodeReply(rtype, s, seq, failed(error)));
  }

  #complete(s: Slot, seq: number, rtype: number, reply: Reply | null): void {
    s.busy = false;
    this.#busyCount = Math.max(0, this.#busyCount - 1);
    if (this.#host.isGone() || reply === null) return;
    // A command aborted while running answers CMD_ABORTED (CCID §5.3.1).
    const answer = s.abortControlSeq === seq ? failed(CCID_ERROR.CMD_ABORTED) : reply;
    this.#host.sendBulk(encodeReply(rtype, s, seq, answer));
  }

  async #run(type: number, s: Slot, seq: number, msg: Uint8Array): Promise<Reply | null> {
    await this.#host.delay(0);
    // Awaited: an async function returning a promise as it is costs two more microtask turns.
    if (type === PC_to_RDR.XfrBlock) return await this.#xfrBlock(s, seq, msg);
    const handler = COMMAND_HANDLERS.get(type);
    // CCID §6.2.6: unknown command → bError 0 "command not supported".
    return handler ? handler(this.#caps, s, msg) : failed(CCID_ERROR.CMD_NOT_SUPPORTED);
  }

  // ---- XfrBlock --------------------------------------------------------------------------------

  async #xfrBlock(s: Slot, seq: number, msg: Uint8Array): Promise<Reply | null> {
    if (!s.card || !s.powered) return failed(CCID_ERROR.ICC_MUTE);
    const generation = s.generation;
    const faults = this.#host.faults;
    if (faults.shouldFire('unplugMidTransfer')) {
      this.#host.unplug();
      return null;
    }
    // The slowReader fault is asked once per command.
    const slow = faults.shouldFire('slowReader') ? faults.plan.slowReader : undefined;
    const extensions = (s.card?.timeExtensions ?? 0) + (slow ? (slow.timeExtensions ?? 3) : 0);
    if (extensions > 0) {
      // Only a slow card or reader waits here: most commands skip a promise and a turn.
      const interrupted = await this.#timeExtensions(s, seq, generation, extensions, slow);
      if (interrupted !== undefined) return interrupted;
    }
    if (faults.shouldFire('cardPulledMidApdu')) {
      this.removeCard(s.index);
      return failed(CCID_ERROR.ICC_MUTE);
    }
    const reply = await exchangeAtLevel(this.#caps, faults, s, msg.subarray(10), readLe16(msg, 8));
    if (s.generation !== generation || !s.card) return failed(CCID_ERROR.ICC_MUTE);
    return reply;
  }

  /**
   * Time extensions (CCID §6.2.7) of a slow card and/or a slow reader. Returns the command's end
   * when the device went away (null), the command was aborted or the card changed meanwhile.
   */
  async #timeExtensions(
    s: Slot,
    seq: number,
    generation: number,
    count: number,
    slow: FaultPlan['slowReader'],
  ): Promise<Reply | null | undefined> {
    for (let i = 0; i < count; i++) {
      await this.#host.delay(slow?.intervalMs ?? 0);
      if (this.#host.isGone()) return null;
      if (s.abortControlSeq === seq) return failed(CCID_ERROR.CMD_ABORTED);
      if (s.generation !== generation) return failed(CCID_ERROR.ICC_MUTE);
      const wait: Reply = { status: 2, error: slow?.multiplier ?? 1 };
      this.#host.sendBulk(encodeReply(RDR_to_PC.DataBlock, s, seq, wait));
    }
    return undefined;
  }
}
