import type {
  CcidInterfaceInfo,
  CcidResponse,
  ParsedAtr,
  PresenceUpdate,
  PoweredCard,
  ReaderEvent,
} from '../core/index.ts';
import { CcidError, SlotPresence, isCcidError, slotStatusOf } from '../core/index.ts';
import type { ReaderInfo } from './descriptors.ts';
import type { CcidLogEntry } from './transport.ts';
import { SlotRunner } from './slot-runner.ts';
import { CcidTransport } from './transport.ts';

export type { ReaderEvent } from '../core/index.ts';

/** Result of {@link CcidReader.powerOn}. */
export interface PowerOnResult {
  atr: Uint8Array;
  protocol: 0 | 1;
  atrInfo: ParsedAtr;
}

/** Options of {@link openReader}. */
export interface OpenReaderOptions {
  /** Interface to drive (default: the first CCID interface with bulk endpoints). */
  interfaceNumber?: number;
  /**
   * True (default) in a normal browser page, where class 0x0B interfaces can't be claimed: openReader
   * then fails with CCID_PROTECTED_CLASS before trying. Pass false in Node (`usb` package) or in an
   * Isolated Web App with `usb-unrestricted`.
   */
  isBrowserBlockingProtectedClasses?: boolean;
  onLog?: (e: CcidLogEntry) => void;
  /** Answer timeout per CCID command, ms, restarted (× multiplier) on time extension. Default 10000. */
  timeoutMs?: number;
  /** Timeout of IccPowerOn, ms. Default max(timeoutMs, 10000). */
  powerOnTimeoutMs?: number;
  /** GetSlotStatus polling period when the reader has no interrupt endpoint, ms. Default 500. */
  pollIntervalMs?: number;
  /** Protocol to prefer when the card offers both T=0 and T=1 (default: the card's default). */
  preferredProtocol?: 0 | 1;
  /** T=1 CRC flavour for cards whose ATR selects CRC (ccid.md §14.1; default 'libccid'). */
  t1CrcVariant?: 'libccid' | 'iso13239';
  /** Time-extension frames accepted per command before CCID_TIMEOUT. Default 1000. */
  maxTimeExtensions?: number;
}

/** What {@link CcidReader}'s constructor takes (openReader builds it). */
export interface CcidReaderOptions {
  device: USBDevice;
  info: ReaderInfo;
  /** The claimed interface. */
  interfaceInfo: CcidInterfaceInfo;
  options: OpenReaderOptions;
}

interface SlotState {
  isBusy: boolean;
  internal: Promise<unknown> | undefined;
  power: PoweredCard | undefined;
}

/**
 * One opened CCID interface. All methods reject with CcidError. Policy lives in the pure core
 * (PowerUp, T0Exchange, T1Session, ExtendedApduExchange, SlotPresence, the reader-error mapping);
 * this class runs those planners over the transport and keeps per-slot state.
 */
export class CcidReader {
  readonly info: ReaderInfo;
  readonly interfaceInfo: CcidInterfaceInfo;
  readonly slotCount: number;
  readonly #device: USBDevice;
  readonly #transport: CcidTransport;
  readonly #runner: SlotRunner;
  readonly #opts: OpenReaderOptions;
  readonly #slots: SlotState[];
  readonly #presence: SlotPresence;
  readonly #listeners = new Set<(e: ReaderEvent) => void>();
  readonly #timeoutMs: number;
  #pollTimer: ReturnType<typeof setTimeout> | undefined;
  #isClosed = false;

  /** Use {@link openReader}. */
  constructor(o: CcidReaderOptions) {
    const iface = o.interfaceInfo;
    this.#device = o.device;
    this.info = o.info;
    this.interfaceInfo = iface;
    this.slotCount = iface.slotCount;
    this.#opts = o.options;
    this.#timeoutMs = o.options.timeoutMs ?? 10000;
    this.#slots = Array.from({ length: iface.slotCount }, () => ({
      isBusy: false,
      internal: undefined,
      power: undefined,
    }));
    this.#presence = new SlotPresence(iface.slotCount);
    this.#transport = new CcidTransport({
      device: o.device,
      info: iface,
      onLog: o.options.onLog,
      onGone: () => this.#onGone(),
      onInterrupt: (m) => this.#applyPresence(this.#presence.onInterrupt(m)),
    });
    const opts = o.options;
    this.#runner = new SlotRunner({
      transport: this.#transport,
      interfaceInfo: iface,
      timeoutMs: this.#timeoutMs,
      powerOnTimeoutMs: opts.powerOnTimeoutMs,
      maxTimeExtensions: opts.maxTimeExtensions,
      preferredProtocol: opts.preferredProtocol,
      t1CrcVariant: opts.t1CrcVariant,
      onNote: (message) => this.#log(message),
    });
  }

  /** USB transfer counters (bulk OUT, bulk IN reads issued, interrupt reads, control). */
  get stats(): Readonly<CcidTransport['stats']> {
    return this.#transport.stats;
  }

  /** @internal Called by openReader: starts the readers and syncs with the reader (stale frames are dropped by bSeq). */
  async init(): Promise<void> {
    this.#transport.start();
    // libccid CreateChannelByNameOrChannel(): a GetSlotStatus first; retried with a short timeout to resync.
    for (let i = 0; i < 3; i++) {
      try {
        const r = await this.#transport.exchange(
          { type: 'GetSlotStatus', slot: 0 },
          { timeoutMs: i === 0 ? Math.min(this.#timeoutMs, 3000) : 500 },
        );
        this.#presence.learn(0, slotStatusOf(r) !== 'absent');
        break;
      } catch (e) {
        if (isCcidError(e) && e.code === 'CCID_READER_GONE') throw e;
      }
    }
  }

  /** Presence/power of a slot via GetSlotStatus (CCID rev 1.1 §6.1.3). */
  async getSlotStatus(slot = 0): Promise<'active' | 'inactive' | 'absent'> {
    return await this.#withSlot(slot, async () => {
      const r = await this.#runner.cmd({ type: 'GetSlotStatus', slot });
      return this.#statusOf(slot, r);
    });
  }

  /**
   * Powers the card on (IccPowerOn with voltage fallback, ccid.md §6.3), parses the ATR, then does
   * PPS / SetParameters / IFSD exactly as the reader's features require (ccid.md §11, §15.4).
   */
  async powerOn(slot = 0, opts: { signal?: AbortSignal } = {}): Promise<PowerOnResult> {
    return await this.#withSlot(slot, async () => {
      const state = this.#slots[slot]!;
      state.power = undefined;
      const card = await this.#runner.powerUp(slot, opts.signal);
      state.power = card;
      this.#presence.learn(slot, true);
      return { atr: card.atr, protocol: card.protocol, atrInfo: card.atrInfo };
    });
  }

  /** Powers the card off (IccPowerOff, CCID rev 1.1 §6.1.2). */
  async powerOff(slot = 0): Promise<void> {
    await this.#withSlot(slot, async () => {
      this.#slots[slot]!.power = undefined;
      await this.#runner.cmd({ type: 'IccPowerOff', slot });
    });
  }

  /**
   * Sends a command APDU and returns the whole response APDU, SW1 SW2 included (status words are
   * data). T=0: 61xx/6Cxx handled at every level; T=1 on TPDU readers: block protocol; extended
   * APDU readers: chaining (CCID rev 1.1 §6.1.4). Rejects CCID_BUSY if the slot is in use.
   */
  transmit(
    apdu: Uint8Array,
    opts: { slot?: number; signal?: AbortSignal } = {},
  ): Promise<Uint8Array> {
    // No async step of its own: #withSlot's promise is the answer (this runs for every APDU).
    const slot = opts.slot ?? 0;
    // Nor does the call it waits for: a throw here is caught by #withSlot's try like a rejection.
    return this.#withSlot(slot, () => {
      const power = this.#slots[slot]!.power;
      if (!power)
        throw new CcidError(
          'CCID_NOT_POWERED',
          `slot ${slot} is not powered; call powerOn() first`,
        );
      return this.#runner.transmit(slot, power, apdu, opts.signal);
    });
  }

  /** Subscribes to reader events; returns the unsubscribe function. Polling starts with the first listener on readers without interrupt endpoint. */
  onEvent(listener: (e: ReaderEvent) => void): () => void {
    this.#listeners.add(listener);
    this.#schedulePoll();
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Releases the interface and closes the device. Idempotent. */
  async close(): Promise<void> {
    if (this.#isClosed) return;
    this.#isClosed = true;
    if (this.#pollTimer !== undefined) clearTimeout(this.#pollTimer);
    this.#transport.close();
    if (this.#transport.isGone) return;
    await this.#device.releaseInterface(this.interfaceInfo.interfaceNumber).catch(() => undefined);
    await this.#device.close().catch(() => undefined);
  }

  async #withSlot<T>(slot: number, fn: () => Promise<T>): Promise<T> {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.slotCount)
      throw new RangeError(`slot ${slot} out of range 0..${this.slotCount - 1}`);
    if (this.#isClosed) throw new CcidError('CCID_CLOSED', 'reader closed');
    this.#transport.assertUsable();
    const s = this.#slots[slot]!;
    if (s.isBusy)
      throw new CcidError('CCID_BUSY', `a command is already in flight on slot ${slot}`);
    const busySlots = this.#busySlots();
    const max = this.interfaceInfo.maxBusySlots;
    if (busySlots >= max)
      throw new CcidError('CCID_BUSY', `the reader allows ${max} busy slot(s) (bMaxCCIDBusySlots)`);
    s.isBusy = true;
    try {
      // A background GetSlotStatus poll on this slot, or one that would exceed bMaxCCIDBusySlots, finishes first.
      const internals = this.#pollsToAwait(slot, busySlots + 2 > max);
      if (internals !== null) await Promise.allSettled(internals);
      return await fn();
    } catch (e) {
      if (isCcidError(e) && e.code === 'CCID_CARD_ABSENT') s.power = undefined;
      throw e;
    } finally {
      s.isBusy = false;
    }
  }

  /** Slots with a command in flight (a loop: this runs for every command). */
  #busySlots(): number {
    let n = 0;
    for (let i = 0; i < this.#slots.length; i++) if (this.#slots[i]!.isBusy) n++;
    return n;
  }

  /** The background polls a command on `slot` waits for: that slot's, or all when `isAll`; null if none. */
  #pollsToAwait(slot: number, isAll: boolean): Promise<unknown>[] | null {
    let polls: Promise<unknown>[] | null = null;
    for (let i = 0; i < this.#slots.length; i++) {
      const poll = this.#slots[i]!.internal;
      if (poll !== undefined && (i === slot || isAll)) (polls ??= []).push(poll);
    }
    return polls;
  }

  #statusOf(slot: number, r: CcidResponse): 'active' | 'inactive' | 'absent' {
    const status = slotStatusOf(r);
    this.#applyPresence(
      this.#presence.onStatus(slot, status, this.#slots[slot]!.power !== undefined),
    );
    return status;
  }

  #applyPresence(u: PresenceUpdate): void {
    for (const slot of u.unpowered) if (this.#slots[slot]) this.#slots[slot].power = undefined;
    for (const e of u.events) this.#emit(e);
  }

  #onGone(): void {
    if (this.#pollTimer !== undefined) clearTimeout(this.#pollTimer);
    for (const s of this.#slots) s.power = undefined;
    this.#emit({ type: 'reader-gone' });
  }

  #emit(e: ReaderEvent): void {
    for (const l of [...this.#listeners]) {
      try {
        l(e);
      } catch (err) {
        this.#opts.onLog?.({ kind: 'note', message: 'event listener threw', cause: err });
      }
    }
  }

  #schedulePoll(): void {
    if (this.interfaceInfo.hasInterruptEndpoint || this.#pollTimer !== undefined || this.#isClosed)
      return;
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = undefined;
      void this.#poll();
    }, this.#opts.pollIntervalMs ?? 500);
  }

  /** Card events without an interrupt endpoint: GetSlotStatus on idle slots (ccid.md §9.1). */
  async #poll(): Promise<void> {
    if (this.#isClosed || this.#transport.isGone || this.#listeners.size === 0) return;
    for (let slot = 0; slot < this.slotCount; slot++) {
      const s = this.#slots[slot]!;
      if (s.isBusy || s.internal) continue;
      // CCID rev 1.1 §5.1 bMaxCCIDBusySlots: never poll beside a running command beyond the limit.
      if (this.#busySlots() >= this.interfaceInfo.maxBusySlots) break;
      const p = this.#transport.exchange(
        { type: 'GetSlotStatus', slot },
        { timeoutMs: Math.min(this.#timeoutMs, 3000) },
      );
      s.internal = p;
      try {
        this.#statusOf(slot, await p);
      } catch {
        // reader-gone is reported by the transport; other failures are retried at the next poll
      } finally {
        s.internal = undefined;
      }
    }
    this.#schedulePoll();
  }

  #log(message: string): void {
    this.#opts.onLog?.({ kind: 'note', message });
  }
}
