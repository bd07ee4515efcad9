import { ChunkBuffer } from './chunk-buffer.ts';
import { CCID_HEADER_BYTES } from './constants.ts';
import { isResponseType, peekHeader } from './messages.ts';

/** Options of {@link BulkInFramer}. */
export interface BulkInFramerOptions {
  /** wMaxPacketSize of the bulk-IN endpoint: a completion that is not a multiple of it ends a USB transfer. */
  packetSize: number;
  /** Largest message accepted, header included, bytes. */
  maxMessageBytes: number;
}

/**
 * Why bytes were dropped:
 * - 'cut': a USB transfer ended (short packet or ZLP) inside a message: fewer bytes than its dwLength;
 * - 'bad-header': an unknown message type or a dwLength above the limit;
 * - 'discarded': a partial message thrown away by {@link BulkInFramer.discardPartial} (timeout, ABORT, stall);
 * - 'resync': after a discard, a transfer that is not exactly whole messages (the rest of the cut one).
 */
export type BulkInDropReason = 'cut' | 'bad-header' | 'discarded' | 'resync';

/** What the framer makes of bulk-IN completions. */
export type BulkInFrame = { type: 'message'; bytes: Uint8Array } | BulkInDrop;

/** Bytes the framer threw away (for the log). */
export interface BulkInDrop {
  type: 'dropped';
  reason: BulkInDropReason;
  bytes: Uint8Array;
}

/**
 * Reassembles RDR_to_PC messages from bulk-IN completions and resynchronises after a cut answer
 * (ccid.md §1, §4.1, §16.2; issue "the driver recovers from a cut answer"). Pure: completions in,
 * messages and drops out.
 *
 * Rule:
 * 1. A message may span several completions; bytes are joined until `10 + dwLength` are in.
 * 2. A completion whose length is zero or not a multiple of wMaxPacketSize ends with a short packet,
 *    so it ends a USB transfer: a message still incomplete there was cut and is dropped. A completion
 *    of whole packets may be continued by the next one (hosts split transfers, §16.2).
 * 3. A timeout, ABORT, stall or babble drops the partial message ({@link discardPartial}). Its rest
 *    may still come, headerless, so the framer then resynchronises: it takes bytes again only from a
 *    completion start after which they are exactly whole, well-formed messages (earlier bytes are
 *    dropped), and drops what it holds at a transfer end that gives no such start.
 */
export class BulkInFramer {
  readonly #packetSize: number;
  readonly #max: number;
  readonly #buf = new ChunkBuffer();
  #isResyncing = false;
  /** While resyncing: offsets in the held bytes where a completion started (candidate message starts). */
  readonly #starts: number[] = [];

  constructor(opts: BulkInFramerOptions) {
    this.#packetSize = Math.max(1, opts.packetSize);
    this.#max = opts.maxMessageBytes;
  }

  /** Bytes held for an incomplete message. */
  get bufferedBytes(): number {
    return this.#buf.length;
  }

  /** True after a discard until the current transfer ends or whole messages arrive. */
  get isResyncing(): boolean {
    return this.#isResyncing;
  }

  /**
   * Feeds one bulk-IN transfer completion (a ZLP included). The framer keeps `chunk` by reference
   * and a message may be a view of it: the caller must not change it afterwards (a transfer's
   * buffer is its own).
   */
  push(chunk: Uint8Array): BulkInFrame[] {
    const endsTransfer = chunk.length === 0 || chunk.length % this.#packetSize !== 0;
    if (chunk.length > 0 && this.#isResyncing) this.#starts.push(this.#buf.length);
    this.#buf.push(chunk);
    return this.#isResyncing ? this.#resync(endsTransfer) : this.#assemble(endsTransfer);
  }

  /** Timeout, ABORT, stall or babble: drops a partial message; the framer then resynchronises. */
  discardPartial(): BulkInDrop[] {
    if (this.#buf.length === 0) return [];
    this.#isResyncing = true;
    return [this.#dropAll('discarded')];
  }

  #assemble(endsTransfer: boolean): BulkInFrame[] {
    const out: BulkInFrame[] = [];
    while (this.#buf.length >= CCID_HEADER_BYTES) {
      const all = this.#buf.bytes();
      const need = this.#messageBytes(all);
      if (need === undefined) {
        out.push(this.#dropAll('bad-header'));
        // Bytes after a bad header up to the end of this transfer are no message start either.
        this.#isResyncing = !endsTransfer;
        return out;
      }
      if (this.#buf.length < need) break;
      // The held bytes themselves, or a view of them: they are never written (the caller hands
      // each completion over).
      if (all.length === need) {
        out.push({ type: 'message', bytes: all });
        this.#keep();
      } else {
        out.push({ type: 'message', bytes: all.subarray(0, need) });
        this.#keep(all.subarray(need));
      }
    }
    if (endsTransfer && this.#buf.length > 0) out.push(this.#dropAll('cut'));
    return out;
  }

  /**
   * Resync: take the held bytes from the earliest completion start from which they are exactly
   * whole messages (dropping what comes before); at a transfer end with no such start, drop all.
   */
  #resync(endsTransfer: boolean): BulkInFrame[] {
    const all = this.#buf.bytes();
    for (const start of this.#starts) {
      const whole = this.#wholeMessages(all.subarray(start));
      if (!whole) continue;
      const out: BulkInFrame[] = [];
      if (start > 0) out.push({ type: 'dropped', reason: 'resync', bytes: all.slice(0, start) });
      this.#keep();
      this.#isResyncing = false;
      for (const bytes of whole) out.push({ type: 'message', bytes });
      return out;
    }
    if (endsTransfer) {
      this.#isResyncing = false;
      return this.#buf.length ? [this.#dropAll('resync')] : [];
    }
    // Bound memory while waiting for the end of a transfer that never looks whole.
    return this.#buf.length > this.#max ? [this.#dropAll('resync')] : [];
  }

  /** Total size of the message starting at `bytes`, or undefined when its header is invalid. */
  #messageBytes(bytes: Uint8Array): number | undefined {
    const h = peekHeader(bytes);
    if (h.kind !== 'header' || !isResponseType(h.messageType)) return undefined;
    const need = h.length + CCID_HEADER_BYTES;
    return need > this.#max ? undefined : need;
  }

  /** Splits `bytes` into whole messages when it is exactly that (at least one), else undefined. */
  #wholeMessages(bytes: Uint8Array): Uint8Array[] | undefined {
    const out: Uint8Array[] = [];
    let at = 0;
    while (at < bytes.length) {
      const need = this.#messageBytes(bytes.subarray(at));
      if (need === undefined || at + need > bytes.length) return undefined;
      out.push(bytes.slice(at, at + need));
      at += need;
    }
    return out.length ? out : undefined;
  }

  #dropAll(reason: BulkInDropReason): BulkInDrop {
    const bytes = this.#buf.bytes().slice();
    this.#keep();
    return { type: 'dropped', reason, bytes };
  }

  #keep(rest?: Uint8Array): void {
    this.#buf.keep(rest);
    this.#starts.length = 0; // in place: one array for the framer's life
  }
}
