/**
 * A ReaderService in memory for the helper's tests: named readers that hold the bridge's
 * conformance card (ECHO/STATUS), with the controls of a conformance harness (insert, remove,
 * unplug, hold an answer). Each `open` returns a reader object like PcscReader's: one call at
 * a time, late answers dropped, asynchronous events, `close()`.
 */
import { conformanceCardAnswer } from '@cardlend/bridge/conformance';
import type { BridgeReaderEvent, PoweredCard, SlotStatus } from '@cardlend/bridge';
import type { OpenedReader, ReaderService } from '../../src/ports.ts';
import type { ReaderSummary } from '../../src/reader-choice.ts';

export const MEMORY_ATR = Uint8Array.of(0x3b, 0x80, 0x80, 0x01, 0x01);

export class CodeError extends Error {
  readonly code: string;
  readonly sourceCode: string | undefined;
  constructor(code: string, sourceCode?: string) {
    super(code);
    this.code = code;
    this.sourceCode = sourceCode;
  }
}

interface InFlight {
  fail(code: string): void;
}

/** One physical reader; every opened handle shares it. */
export class MemorySlot {
  readonly name: string;
  isCardIn: boolean;
  isPowered = false;
  isGone = false;
  hold: { reached: () => void; released: Promise<void> } | null = null;
  inFlight: InFlight | null = null;
  answerTimeoutMs: number;
  readonly handles = new Set<MemoryHandle>();
  /** Handles opened so far, and closed. */
  opened = 0;
  closed = 0;

  constructor(name: string, isCardIn: boolean, answerTimeoutMs = 5000) {
    this.name = name;
    this.isCardIn = isCardIn;
    this.answerTimeoutMs = answerTimeoutMs;
  }

  emit(e: BridgeReaderEvent): void {
    for (const h of this.handles) h.emit(e);
  }

  insert(): void {
    this.isCardIn = true;
    this.emit({ type: 'card-inserted', slot: 0 });
  }

  remove(): void {
    this.isCardIn = false;
    this.isPowered = false;
    this.inFlight?.fail('CCID_CARD_ABSENT');
    this.emit({ type: 'card-removed', slot: 0 });
  }

  unplug(): void {
    this.isGone = true;
    this.inFlight?.fail('CCID_READER_GONE');
    this.emit({ type: 'reader-gone' });
  }

  /** Holds the next answer; returns the controls. */
  holdNext(): { reached: Promise<void>; release: () => Promise<void> } {
    let reached: () => void = () => undefined;
    let release: () => void = () => undefined;
    const reachedP = new Promise<void>((r) => (reached = r));
    const released = new Promise<void>((r) => (release = r));
    this.hold = { reached, released };
    return {
      reached: reachedP,
      release: async () => {
        release();
        await released;
      },
    };
  }
}

export class MemoryHandle implements OpenedReader {
  readonly info: { productName: string };
  readonly #slot: MemorySlot;
  readonly #listeners = new Set<(e: BridgeReaderEvent) => void>();
  #isBusy = false;
  #isClosed = false;

  constructor(slot: MemorySlot) {
    this.#slot = slot;
    this.info = { productName: slot.name };
    slot.handles.add(this);
    slot.opened++;
  }

  getSlotStatus(): Promise<SlotStatus> {
    return this.#call(async () => {
      const s = this.#slot;
      return !s.isCardIn ? 'absent' : s.isPowered ? 'active' : 'inactive';
    });
  }

  powerOn(): Promise<PoweredCard> {
    return this.#call(async () => {
      if (!this.#slot.isCardIn) throw new CodeError('CCID_CARD_ABSENT');
      this.#slot.isPowered = true;
      return { atr: MEMORY_ATR.slice(), protocol: 1 };
    });
  }

  powerOff(): Promise<void> {
    return this.#call(async () => {
      this.#slot.isPowered = false;
    });
  }

  transmit(apdu: Uint8Array): Promise<Uint8Array> {
    return this.#call(() => {
      const s = this.#slot;
      if (!s.isPowered) throw new CodeError('CCID_NOT_POWERED');
      const command = apdu.slice();
      const hold = s.hold;
      s.hold = null;
      return new Promise<Uint8Array>((resolve, reject) => {
        const timer = setTimeout(() => done(new CodeError('CCID_TIMEOUT')), s.answerTimeoutMs);
        const done = (result: Uint8Array | Error): void => {
          if (s.inFlight !== flight) return;
          s.inFlight = null;
          clearTimeout(timer);
          if (result instanceof Uint8Array) resolve(result);
          else reject(result);
        };
        const flight: InFlight = { fail: (code) => done(new CodeError(code)) };
        s.inFlight = flight;
        if (hold === null) return done(conformanceCardAnswer(command));
        hold.reached();
        void hold.released.then(() => done(conformanceCardAnswer(command)));
      });
    });
  }

  onEvent(listener: (e: BridgeReaderEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(e: BridgeReaderEvent): void {
    queueMicrotask(() => {
      for (const l of [...this.#listeners]) l(e);
    });
  }

  async close(): Promise<void> {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#slot.isPowered = false;
    this.#slot.handles.delete(this);
    this.#slot.closed++;
  }

  async #call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#isClosed) throw new CodeError('CCID_CLOSED');
    if (this.#slot.isGone) throw new CodeError('CCID_READER_GONE', 'SCARD_E_UNKNOWN_READER');
    if (this.#isBusy) throw new CodeError('CCID_BUSY');
    this.#isBusy = true;
    try {
      return await fn();
    } finally {
      this.#isBusy = false;
    }
  }
}

/** A service over `slots`. */
export function memoryService(slots: readonly MemorySlot[]): ReaderService & { closed: boolean } {
  const service = {
    closed: false,
    onServiceEvent: () => () => undefined,
    list: async (): Promise<ReaderSummary[]> =>
      slots
        .filter((s) => !s.isGone)
        .map((s) => ({
          name: s.name,
          state: s.isCardIn ? 'present' : 'empty',
          atr: s.isCardIn ? MEMORY_ATR.slice() : null,
        })),
    open: async (name: string): Promise<OpenedReader> => {
      const slot = slots.find((s) => s.name === name && !s.isGone);
      if (slot === undefined) throw new CodeError('CCID_READER_GONE', 'SCARD_E_UNKNOWN_READER');
      return new MemoryHandle(slot);
    },
    close: async () => {
      service.closed = true;
    },
  };
  return service;
}
