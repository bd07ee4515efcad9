/**
 * The bulk pipe between host and firmware: RDR_to_PC messages cut into wMaxPacketSize packets
 * (with a ZLP after an exact multiple, USB 2.0 §5.8.3) and read back by transferIn calls as Chrome
 * completes them; PC_to_RDR messages assembled from OUT transfers of any size.
 */
import { concatBytes, readLe16 } from '../bytes.ts';
import { RDR_to_PC } from '../ccid-constants.ts';
import type { FaultInjector } from '../faults.ts';
import type { SimInTransferResult } from './shape.ts';
import { Waiters } from './device-state.ts';

/** Where a fault splits one message over two IN transfers. */
const BREAK = Symbol('transfer-break');
type InItem = Uint8Array | typeof BREAK;

/** Packets waiting on bulk-IN. */
export class BulkInQueue {
  readonly arrived = new Waiters();
  readonly #packetSize: number;
  readonly #faults: FaultInjector;
  #items: InItem[] = [];

  constructor(packetSize: number, faults: FaultInjector) {
    this.#packetSize = packetSize;
    this.#faults = faults;
  }

  /** Queues one whole message as packets (faults: strayZlp, splitTransfers, cutAnswer). */
  push(whole: Uint8Array): void {
    const message = this.#maybeCut(whole);
    const size = this.#packetSize;
    if (this.#faults.shouldFire('strayZlp')) this.#items.push(new Uint8Array(0));
    const split = message.length > size && this.#faults.shouldFire('splitTransfers');
    const fullEnd = message.length - (message.length % size);
    for (let at = 0; at < message.length; at += size) {
      if (split && at === fullEnd && at > 0) this.#items.push(BREAK);
      this.#items.push(message.subarray(at, Math.min(at + size, message.length)));
    }
    // USB 2.0 §5.8.3: a transfer that is an exact multiple of wMaxPacketSize ends with a ZLP.
    if (message.length % size === 0) this.#items.push(new Uint8Array(0));
    this.arrived.wakeAll();
  }

  /** Drops everything queued (USB reset). */
  clear(): void {
    this.#items = [];
  }

  /** The cutAnswer fault: a DataBlock loses its tail (the reader's transfer ended early). */
  #maybeCut(message: Uint8Array): Uint8Array {
    if (message[0] !== RDR_to_PC.DataBlock || message.length < 2) return message;
    if (!this.#faults.shouldFire('cutAnswer')) return message;
    const keep = this.#faults.plan.cutAnswer?.keepBytes ?? Math.floor(message.length / 2);
    return message.subarray(0, Math.min(message.length - 1, Math.max(1, keep)));
  }

  /**
   * One IN transfer of up to `length` bytes: packets until a short one, `length` reached or a
   * break; `waitForMore` resolves when packets arrive (and throws when the device is gone).
   */
  async read(length: number, waitForMore: () => Promise<void>): Promise<SimInTransferResult> {
    const chunks: Uint8Array[] = [];
    let received = 0;
    for (;;) {
      while (this.#items.length === 0) await waitForMore();
      const item = this.#items[0]!;
      if (item === BREAK) {
        this.#items.shift();
        if (received > 0) break;
        continue;
      }
      if (received + item.length > length) {
        if (received > 0) break;
        // USB babble: the device sent more than the buffer holds (ccid.md §1); the packet is lost.
        this.#items.shift();
        chunks.push(item.subarray(0, length - received));
        return { status: 'babble', data: freshDataView(chunks) };
      }
      this.#items.shift();
      chunks.push(item);
      received += item.length;
      if (item.length < this.#packetSize || received === length) break;
    }
    return { status: 'ok', data: freshDataView(chunks) };
  }
}

/**
 * The packets of one IN transfer as Chrome hands them: a DataView over a fresh buffer (one copy:
 * concatBytes' array owns its whole buffer).
 */
function freshDataView(packets: readonly Uint8Array[]): DataView {
  return new DataView(concatBytes(...packets).buffer);
}

const EMPTY = new Uint8Array(0);

/** What bulk-OUT bytes complete: a whole message, or a header whose dwLength is too large. */
export type BulkOutEvent =
  | { readonly kind: 'message'; readonly message: Uint8Array }
  | { readonly kind: 'bad-length'; readonly header: Uint8Array };

/** Joins OUT transfers into PC_to_RDR messages (10-byte header + dwLength bytes). */
export class BulkOutAssembler {
  readonly #maxMessageLength: number;
  #buffer: Uint8Array = EMPTY;

  /** `maxMessageLength`: what the firmware accepts, header included. */
  constructor(maxMessageLength: number) {
    this.#maxMessageLength = maxMessageLength;
  }

  /**
   * Adds one transfer's bytes; returns the messages (or length errors) they complete. Takes
   * `bytes` over (the transfer's own copy, as Chrome makes it): a message may be a view of it.
   */
  push(bytes: Uint8Array): BulkOutEvent[] {
    this.#buffer = this.#buffer.length === 0 ? bytes : concatBytes(this.#buffer, bytes);
    const events: BulkOutEvent[] = [];
    for (;;) {
      const buf = this.#buffer;
      if (buf.length < 10) break;
      const dwLength = readLe16(buf, 1) + readLe16(buf, 3) * 65536;
      if (dwLength > this.#maxMessageLength - 10) {
        // CCID §6.2.6: bad dwLength (offset 1); the rest of this transfer is discarded.
        this.#buffer = EMPTY;
        events.push({ kind: 'bad-length', header: buf.slice(0, 10) });
        break;
      }
      const end = 10 + dwLength;
      if (buf.length < end) break;
      // The transfer itself when it is one whole message, else views: nothing writes to the held bytes.
      const isWhole = buf.length === end;
      events.push({ kind: 'message', message: isWhole ? buf : buf.subarray(0, end) });
      this.#buffer = isWhole ? EMPTY : buf.subarray(end);
    }
    return events;
  }

  /** Drops a half-received message (USB reset). */
  clear(): void {
    this.#buffer = EMPTY;
  }
}
