/**
 * The reader slot: runs the lending machine's reader calls on one slot of a
 * {@link BridgeReader}, one at a time in request order (a reader may refuse overlapping
 * calls, reader.ts), and reports each result back. Forwards reader events while subscribed.
 */
import type { BridgeReader, BridgeReaderEvent } from '../reader.ts';
import type { ReaderRequest, ReaderResult } from '../lending/types.ts';

/** See the module comment. */
export class ReaderSlot {
  readonly #reader: BridgeReader;
  readonly #slot: number;
  /** transmit's options, one frozen object for all calls. */
  readonly #transmitOptions: Readonly<{ slot: number }>;
  #chain: Promise<void> = Promise.resolve();
  #unsubscribe: (() => void) | null = null;

  constructor(reader: BridgeReader, slot: number) {
    this.#reader = reader;
    this.#slot = slot;
    this.#transmitOptions = Object.freeze({ slot });
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
    this.#chain = this.#runAfter(this.#chain, request, done);
  }

  /**
   * Waits for `previous`, makes the call and reports it: one promise per call, which never
   * rejects (the queue goes on), and no closures (this runs for every guest command; a
   * `then` chain cost three promises, three closures and two more microtask turns).
   */
  async #runAfter(
    previous: Promise<void>,
    request: ReaderRequest,
    done: (id: number, result: ReaderResult) => void,
  ): Promise<void> {
    await previous;
    let result: ReaderResult;
    try {
      result = { ok: true, value: await this.#call(request) };
    } catch (error) {
      result = { ok: false, error };
    }
    try {
      done(request.id, result);
    } catch (e) {
      // As before: a throwing `done` is an unhandled rejection, not the next call's failure.
      void Promise.reject(e);
    }
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
        return reader.transmit(request.apdu, this.#transmitOptions);
    }
  }
}
