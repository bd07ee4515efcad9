/**
 * A reference implementation of the reader interface (src/reader.ts) in memory, with its
 * conformance harness: the smallest reader that keeps every rule (errors per situation, one
 * call at a time, late answers dropped, asynchronous events). It shows a new implementation
 * (PC/SC, a local helper) what the suite expects, without hardware or a driver.
 */
import { conformanceCardAnswer } from '../../src/conformance/index.ts';
import type { HeldAnswer, ReaderHarnessFactory } from '../../src/conformance/index.ts';
import type { BridgeReader, BridgeReaderEvent, PoweredCard, SlotStatus } from '../../src/reader.ts';
import { FakeCcidError } from './scripted-reader.ts';

const ATR = Uint8Array.of(0x3b, 0x80, 0x80, 0x01, 0x01);

/** The in-flight transmit, so removal or unplug can fail it at once. */
interface InFlight {
  fail(code: string): void;
}

class MemoryReader implements BridgeReader {
  readonly info = { productName: 'Memory Reader' };
  isCardIn: boolean;
  isPowered = false;
  isGone = false;
  hold: { reached: () => void; released: Promise<void> } | null = null;
  inFlight: InFlight | null = null;
  readonly #listeners = new Set<(e: BridgeReaderEvent) => void>();
  readonly #answerTimeoutMs: number;
  #isBusy = false;

  constructor(isCardIn: boolean, answerTimeoutMs: number) {
    this.isCardIn = isCardIn;
    this.#answerTimeoutMs = answerTimeoutMs;
  }

  getSlotStatus(): Promise<SlotStatus> {
    return this.#call(async () => {
      if (!this.isCardIn) return 'absent';
      return this.isPowered ? 'active' : 'inactive';
    });
  }

  powerOn(): Promise<PoweredCard> {
    return this.#call(async () => {
      if (!this.isCardIn) throw new FakeCcidError('CCID_CARD_ABSENT');
      this.isPowered = true;
      return { atr: ATR.slice(), protocol: 1 };
    });
  }

  powerOff(): Promise<void> {
    return this.#call(async () => {
      this.isPowered = false;
    });
  }

  transmit(apdu: Uint8Array): Promise<Uint8Array> {
    return this.#call(() => {
      if (!this.isPowered) throw new FakeCcidError('CCID_NOT_POWERED');
      const command = apdu.slice();
      const hold = this.hold;
      this.hold = null;
      return new Promise<Uint8Array>((resolve, reject) => {
        const timer = setTimeout(
          () => done(new FakeCcidError('CCID_TIMEOUT')),
          this.#answerTimeoutMs,
        );
        const done = (result: Uint8Array | Error): void => {
          if (this.inFlight !== flight) return; // settled already: a late answer is dropped here
          this.inFlight = null;
          clearTimeout(timer);
          if (result instanceof Uint8Array) resolve(result);
          else reject(result);
        };
        const flight: InFlight = { fail: (code) => done(new FakeCcidError(code)) };
        this.inFlight = flight;
        if (hold === null) {
          done(conformanceCardAnswer(command));
          return;
        }
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
      for (const l of [...this.#listeners]) {
        try {
          l(e);
        } catch {
          // one listener's failure does not stop the others
        }
      }
    });
  }

  async #call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.isGone) throw new FakeCcidError('CCID_READER_GONE');
    if (this.#isBusy) throw new FakeCcidError('CCID_BUSY');
    this.#isBusy = true;
    try {
      return await fn();
    } finally {
      this.#isBusy = false;
    }
  }
}

/** Harness factory of the in-memory reader (slot 0). */
export const memoryReaderHarness: ReaderHarnessFactory = async ({ answerTimeoutMs, withCard }) => {
  const reader = new MemoryReader(withCard, answerTimeoutMs);
  const releases: (() => void)[] = [];
  return {
    reader,
    slot: 0,
    atr: ATR,
    async insertCard() {
      reader.isCardIn = true;
      reader.emit({ type: 'card-inserted', slot: 0 });
    },
    async removeCard() {
      reader.isCardIn = false;
      reader.isPowered = false;
      reader.inFlight?.fail('CCID_CARD_ABSENT');
      reader.emit({ type: 'card-removed', slot: 0 });
    },
    async unplugReader() {
      reader.isGone = true;
      reader.inFlight?.fail('CCID_READER_GONE');
      reader.emit({ type: 'reader-gone' });
    },
    holdNextAnswer(): HeldAnswer {
      let reached: () => void = () => undefined;
      let release: () => void = () => undefined;
      const reachedP = new Promise<void>((r) => (reached = r));
      const released = new Promise<void>((r) => (release = r));
      releases.push(release);
      reader.hold = { reached, released };
      return {
        reached: reachedP,
        release: async () => {
          release();
          await released;
        },
      };
    },
    async dispose() {
      for (const r of releases) r();
    },
  };
};
