/**
 * The reader slot: runs the lending machine's reader calls on one slot of a
 * {@link BridgeReader}, one at a time in request order (a reader may refuse overlapping
 * calls, reader.ts), and reports each result back. Forwards reader events while subscribed.
 */
import type { BridgeReader, BridgeReaderEvent } from '../reader.ts';
import type { ReaderRequest, ReaderResult } from '../lending/types.ts';

/** Ends the queue's wait for a call, however it went (one function for all calls). */
const settled = (): void => undefined;

/** See the module comment. */
export class ReaderSlot {
  readonly #reader: BridgeReader;
  readonly #slot: number;
  #chain: Promise<void> = Promise.resolve();
  #unsubscribe: (() => void) | null = null;

  constructor(reader: BridgeReader, slot: number) {
    this.#reader = reader;
    this.#slot = slot;
  }

  /** Starts forwarding reader events to `listener`. */
  subscribe(listener: (e: BridgeReaderEvent) => void): void {
    this.#unsubscribe?.();
    this.#unsubscribe = this.#reader.onEvent(listener);
  }

  /** Stops forwarding reader events. Idempotent. */
  unsubscribe(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
  }

  /** Queues `request`; `done(id, result)` follows once it and every earlier call have settled. */
  run(request: ReaderRequest, done: (id: number, result: ReaderResult) => void): void {
    const call = this.#chain.then(() => this.#call(request));
    this.#chain = call.then(settled, settled);
    call.then(
      (value) => done(request.id, { ok: true, value }),
      (error: unknown) => done(request.id, { ok: false, error }),
    );
  }

  #call(request: ReaderRequest): Promise<unknown> {
    const reader = this.#reader;
    const slot = this.#slot;
    switch (request.kind) {
      case 'slot-status':
        return reader.getSlotStatus(slot);
      case 'power-on':
        return reader.powerOn(slot);
      case 'power-off':
        return reader.powerOff(slot);
      case 'transmit':
        return reader.transmit(request.apdu, { slot });
    }
  }
}
