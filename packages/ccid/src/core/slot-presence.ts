import type { CcidInterruptMessage } from './messages.ts';
import type { SlotStatus } from './reader-errors.ts';
import type { ReaderEvent } from './reader-event.ts';

/** What a presence change means: events to report, and slots whose card lost power. */
export interface PresenceUpdate {
  events: ReaderEvent[];
  /** Slots whose card is no longer the powered one (removed, or re-inserted and so reset). */
  unpowered: number[];
}

/**
 * Card presence per slot, without I/O: turns GetSlotStatus answers and NotifySlotChange
 * interrupts (CCID rev 1.1 §6.3.1, ccid.md §9.1, §11) into card-inserted / card-removed events,
 * each reported once per change. The first state learnt for a slot is reported only when a card
 * is there. A card we powered that reads "inactive", or a "present, changed" notification for a
 * slot known to hold a card, means it was pulled and re-inserted: removed, then inserted.
 */
export class SlotPresence {
  readonly #isPresent: (boolean | undefined)[];

  constructor(slotCount: number) {
    this.#isPresent = Array.from({ length: slotCount }, () => undefined);
  }

  /** Presence last learnt for `slot` (undefined before the first status). */
  isPresent(slot: number): boolean | undefined {
    return this.#isPresent[slot];
  }

  /** Records presence learnt without an event (the status read at open). */
  learn(slot: number, isPresent: boolean): void {
    this.#isPresent[slot] = isPresent;
  }

  /** A GetSlotStatus answer; `isPowered` = the driver holds this slot's card powered. */
  onStatus(slot: number, status: SlotStatus, isPowered: boolean): PresenceUpdate {
    const u: PresenceUpdate = { events: [], unpowered: [] };
    if (status === 'absent' || (status === 'inactive' && isPowered)) u.unpowered.push(slot);
    if (status === 'inactive' && isPowered) this.#change(u, slot, false);
    this.#change(u, slot, status !== 'absent');
    return u;
  }

  /** An interrupt-IN message. */
  onInterrupt(m: CcidInterruptMessage): PresenceUpdate {
    const u: PresenceUpdate = { events: [], unpowered: [] };
    if (m.type === 'HardwareError') {
      u.events.push({ type: 'hardware-error', slot: m.slot, code: m.code });
      return u;
    }
    if (m.type !== 'NotifySlotChange') return u;
    for (const s of m.slots) {
      if (!s.hasChanged || s.slot >= this.#isPresent.length) continue;
      // "present, changed" after a known-present state = removed and re-inserted between notifications.
      if (s.isPresent && this.#isPresent[s.slot]) this.#change(u, s.slot, false);
      this.#change(u, s.slot, s.isPresent);
    }
    return u;
  }

  #change(u: PresenceUpdate, slot: number, isPresent: boolean): void {
    const was = this.#isPresent[slot];
    if (was === isPresent) return;
    this.#isPresent[slot] = isPresent;
    if (!isPresent && !u.unpowered.includes(slot)) u.unpowered.push(slot);
    if (was !== undefined || isPresent)
      u.events.push(isPresent ? { type: 'card-inserted', slot } : { type: 'card-removed', slot });
  }
}
