/**
 * The reference implementation of the reader interface (reader.ts), in memory: the smallest
 * reader that keeps every rule of the conformance suite (errors per situation, one call at a
 * time, late answers dropped, asynchronous events), with the conformance card (card.ts) in
 * its slot. It shows a new implementation (PC/SC, a local helper) what the suite expects,
 * without hardware or a driver, and stands in for a real reader in other packages' tests.
 *
 * A {@link MemorySlot} is one physical reader with the controls of a harness (insert,
 * remove, unplug, hold an answer); every {@link MemoryReader} opened on it shares it, the way
 * several PC/SC handles share one reader. {@link memoryReaderHarness} runs it through the suite.
 */
import { defaultTimers } from '../platform.ts';
import type { BridgeTimers } from '../platform.ts';
import type { BridgeReader, BridgeReaderEvent, PoweredCard, SlotStatus } from '../reader.ts';
import { conformanceCardAnswer } from './card.ts';
import type { HeldAnswer, ReaderHarness, ReaderHarnessFactory } from './harness.ts';

/** The ATR of the card in a memory slot. */
export const MEMORY_ATR = Uint8Array.of(0x3b, 0x80, 0x80, 0x01, 0x01);

/** A memory reader's failure: a reader error `code` (CCID_*), and what the layer below said. */
export class MemoryReaderError extends Error {
  readonly code: string;
  readonly sourceCode: string | undefined;
  constructor(code: string, sourceCode?: string) {
    super(code);
    this.name = 'MemoryReaderError';
    this.code = code;
    this.sourceCode = sourceCode;
  }
}

/** How a {@link MemorySlot} starts. */
export interface MemorySlotOptions {
  /** Whether the card is in the slot (not powered). */
  readonly withCard: boolean;
  /** The reader's product name; default `Memory Reader`. */
  readonly name?: string;
  /** After this long without a card answer, `transmit` fails with `CCID_TIMEOUT`; default 5000. */
  readonly answerTimeoutMs?: number;
  /** The `sourceCode` of `CCID_READER_GONE` errors (e.g. the PC/SC code a real service gives). */
  readonly goneSourceCode?: string;
  readonly timers?: BridgeTimers;
}

/** The in-flight transmit, so removal or unplug can fail it at once. */
interface InFlight {
  fail(code: string): void;
}

/** One physical reader in memory; every reader opened on it shares its state. */
export class MemorySlot {
  readonly name: string;
  readonly answerTimeoutMs: number;
  readonly goneSourceCode: string | undefined;
  readonly timers: BridgeTimers;
  isCardIn: boolean;
  isPowered = false;
  isGone = false;
  hold: { reached: () => void; released: Promise<void> } | null = null;
  inFlight: InFlight | null = null;
  /** The readers open on this slot. */
  readonly readers = new Set<MemoryReader>();
  /** Readers opened so far, and closed. */
  opened = 0;
  closed = 0;

  constructor(opts: MemorySlotOptions) {
    this.name = opts.name ?? 'Memory Reader';
    this.isCardIn = opts.withCard;
    this.answerTimeoutMs = opts.answerTimeoutMs ?? 5000;
    this.goneSourceCode = opts.goneSourceCode;
    this.timers = opts.timers ?? defaultTimers();
  }

  /** Opens a reader on this slot. */
  open(): MemoryReader {
    return new MemoryReader(this);
  }

  emit(e: BridgeReaderEvent): void {
    for (const r of this.readers) r.emit(e);
  }

  insert(): void {
    this.isCardIn = true;
    this.emit({ type: 'card-inserted', slot: 0 });
  }

  /** Pulls the card; a command held at the card fails with `CCID_CARD_ABSENT` at once. */
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

  /** Makes the card keep its answer to the next command until the returned `release()`. */
  holdNext(): HeldAnswer {
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

  /** The card's answer to `command`, after the hold if one was set for it. */
  answer(command: Uint8Array, done: (answer: Uint8Array) => void): void {
    const hold = this.hold;
    this.hold = null;
    if (hold === null) return done(conformanceCardAnswer(command));
    hold.reached();
    void hold.released.then(() => done(conformanceCardAnswer(command)));
  }
}

/** A reader opened on a {@link MemorySlot}: one call at a time; `close()` releases it. */
export class MemoryReader implements BridgeReader {
  readonly info: { productName: string };
  readonly #slot: MemorySlot;
  readonly #listeners = new Set<(e: BridgeReaderEvent) => void>();
  #isBusy = false;
  #isClosed = false;

  constructor(slot: MemorySlot) {
    this.#slot = slot;
    this.info = { productName: slot.name };
    slot.readers.add(this);
    slot.opened++;
  }

  getSlotStatus(): Promise<SlotStatus> {
    return this.#call(async () => {
      const s = this.#slot;
      if (!s.isCardIn) return 'absent';
      return s.isPowered ? 'active' : 'inactive';
    });
  }

  powerOn(): Promise<PoweredCard> {
    return this.#call(async () => {
      if (!this.#slot.isCardIn) throw new MemoryReaderError('CCID_CARD_ABSENT');
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
      if (!s.isPowered) throw new MemoryReaderError('CCID_NOT_POWERED');
      const command = apdu.slice();
      return new Promise<Uint8Array>((resolve, reject) => {
        const timer = s.timers.setTimeout(
          () => done(new MemoryReaderError('CCID_TIMEOUT')),
          s.answerTimeoutMs,
        );
        const done = (result: Uint8Array | Error): void => {
          if (s.inFlight !== flight) return; // settled already: a late answer is dropped here
          s.inFlight = null;
          s.timers.clearTimeout(timer);
          if (result instanceof Uint8Array) resolve(result);
          else reject(result);
        };
        const flight: InFlight = { fail: (code) => done(new MemoryReaderError(code)) };
        s.inFlight = flight;
        s.answer(command, done);
      });
    });
  }

  onEvent(listener: (e: BridgeReaderEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Hands `e` to the listeners asynchronously (as a reader's interrupt would arrive). */
  emit(e: BridgeReaderEvent): void {
    void Promise.resolve().then(() => {
      for (const l of [...this.#listeners]) {
        try {
          l(e);
        } catch {
          // one listener's failure does not stop the others
        }
      }
    });
  }

  /** Releases the reader (powers the card off). Idempotent. */
  async close(): Promise<void> {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#slot.isPowered = false;
    this.#slot.readers.delete(this);
    this.#slot.closed++;
  }

  async #call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#isClosed) throw new MemoryReaderError('CCID_CLOSED');
    if (this.#slot.isGone)
      throw new MemoryReaderError('CCID_READER_GONE', this.#slot.goneSourceCode);
    if (this.#isBusy) throw new MemoryReaderError('CCID_BUSY');
    this.#isBusy = true;
    try {
      return await fn();
    } finally {
      this.#isBusy = false;
    }
  }
}

/** The controls of a conformance harness acting on `slot`; `dispose` releases held answers. */
export function memorySlotControls(
  slot: MemorySlot,
): Pick<
  ReaderHarness,
  'insertCard' | 'removeCard' | 'unplugReader' | 'holdNextAnswer' | 'dispose'
> {
  const releases: (() => Promise<void>)[] = [];
  return {
    insertCard: async () => slot.insert(),
    removeCard: async () => slot.remove(),
    unplugReader: async () => slot.unplug(),
    holdNextAnswer: () => {
      const held = slot.holdNext();
      releases.push(() => held.release());
      return held;
    },
    dispose: async () => {
      await Promise.all(releases.map((r) => r()));
    },
  };
}

/** Harness factory of the in-memory reference reader (slot 0). */
export const memoryReaderHarness: ReaderHarnessFactory = async ({ answerTimeoutMs, withCard }) => {
  const slot = new MemorySlot({ withCard, answerTimeoutMs });
  return { reader: slot.open(), slot: 0, atr: MEMORY_ATR, ...memorySlotControls(slot) };
};
