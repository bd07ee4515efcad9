/**
 * A scripted reader (the BridgeReader surface of CcidReader) for timing-sensitive bridge
 * tests: transmit can be held open, so a card removal or unplug can land mid-APDU at an
 * exact point. Enforces the driver's one-exchange-in-flight rule (CCID_BUSY).
 */
import type { BridgeReader, BridgeReaderEvent } from '../../src/card-bridge.ts';

export class FakeCcidError extends Error {
  readonly code: string;
  constructor(code: string) {
    super(code);
    this.code = code;
  }
}

export interface ScriptedCard {
  atr: Uint8Array;
  protocol: 0 | 1;
  process(apdu: Uint8Array): Uint8Array;
}

export class ScriptedReader implements BridgeReader {
  readonly info = { productName: 'Scripted Reader' };
  card: ScriptedCard | null = null;
  isGone = false;
  isMute = false;
  /** Errors the next power ons reject with, one per call, before the card is powered. */
  readonly powerOnFailures: Error[] = [];
  /** When set, transmit rejects with a CcidError-shaped error of this code. */
  transmitFailure: string | null = null;
  /** When set, transmit waits until `release()` is called. */
  isHolding = false;
  readonly transmitted: Uint8Array[] = [];
  readonly calls: string[] = [];
  #listeners = new Set<(e: BridgeReaderEvent) => void>();
  #inFlight = false;
  #held: { finish: () => void }[] = [];
  #isPowered = false;

  async getSlotStatus(): Promise<'active' | 'inactive' | 'absent'> {
    this.calls.push('getSlotStatus');
    if (this.isGone) throw new FakeCcidError('CCID_READER_GONE');
    return this.card === null ? 'absent' : this.#isPowered ? 'active' : 'inactive';
  }

  async powerOn(): Promise<{ atr: Uint8Array; protocol: 0 | 1 }> {
    this.calls.push('powerOn');
    this.#enter();
    try {
      if (this.isGone) throw new FakeCcidError('CCID_READER_GONE');
      if (this.card === null) throw new FakeCcidError('CCID_CARD_ABSENT');
      if (this.isMute) throw new FakeCcidError('CCID_CARD_MUTE');
      const failure = this.powerOnFailures.shift();
      if (failure !== undefined) throw failure;
      this.#isPowered = true;
      return { atr: this.card.atr.slice(), protocol: this.card.protocol };
    } finally {
      this.#inFlight = false;
    }
  }

  async powerOff(): Promise<void> {
    this.calls.push('powerOff');
    this.#isPowered = false;
  }

  async transmit(apdu: Uint8Array): Promise<Uint8Array> {
    this.calls.push('transmit');
    this.#enter();
    this.transmitted.push(apdu.slice());
    try {
      if (this.isHolding) await new Promise<void>((finish) => this.#held.push({ finish }));
      if (this.isGone) throw new FakeCcidError('CCID_READER_GONE');
      if (this.card === null) throw new FakeCcidError('CCID_CARD_ABSENT');
      if (this.isMute) throw new FakeCcidError('CCID_CARD_MUTE');
      if (this.transmitFailure !== null) throw new FakeCcidError(this.transmitFailure);
      return this.card.process(apdu);
    } finally {
      this.#inFlight = false;
    }
  }

  onEvent(listener: (e: BridgeReaderEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }

  /** Number of transmits waiting for release(). */
  get heldCount(): number {
    return this.#held.length;
  }

  release(): void {
    this.isHolding = false;
    for (const h of this.#held.splice(0)) h.finish();
  }

  insert(card: ScriptedCard): void {
    this.card = card;
    this.#isPowered = false;
    this.#emit({ type: 'card-inserted', slot: 0 });
  }

  remove(): void {
    this.card = null;
    this.#isPowered = false;
    this.#emit({ type: 'card-removed', slot: 0 });
  }

  unplug(): void {
    this.isGone = true;
    this.#emit({ type: 'reader-gone' });
  }

  #enter(): void {
    if (this.#inFlight) throw new FakeCcidError('CCID_BUSY');
    this.#inFlight = true;
  }

  emit(e: BridgeReaderEvent): void {
    this.#emit(e);
  }

  #emit(e: BridgeReaderEvent): void {
    for (const l of [...this.#listeners]) l(e);
  }
}
