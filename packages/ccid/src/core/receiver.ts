import type { BulkInDropReason } from './bulk-in-framer.ts';
import { BulkInFramer } from './bulk-in-framer.ts';
import { CcidError } from './errors.ts';
import type { CcidResponse, CcidResponseType } from './messages.ts';
import { decodeResponse } from './messages.ts';

/** Options of {@link CcidReceiver}. */
export interface CcidReceiverOptions {
  /** wMaxPacketSize of the bulk-IN endpoint. */
  packetSize: number;
  /** Largest RDR_to_PC message accepted, header included, bytes. */
  maxMessageBytes: number;
  /** Unexpected frames tolerated while a slot waits, before CCID_BAD_SEQUENCE. Default 10 (libccid ReadUSB()). */
  maxUnexpectedFrames?: number;
}

/** What the receiver makes of the bulk-IN stream. */
export type CcidReceiverEvent =
  /** The final answer to the command the slot waits for (same bSlot, bSeq and message type). */
  | { type: 'answer'; response: CcidResponse; bytes: Uint8Array }
  /** A time-extension frame (bmCommandStatus 2) for the awaited command: restart its wait × multiplier. */
  | { type: 'time-extension'; slot: number; seq: number; multiplier: number }
  /** Bytes thrown away; `bytes` are for the log. */
  | {
      type: 'dropped';
      reason: BulkInDropReason | 'undecodable' | 'unexpected';
      bytes: Uint8Array;
    }
  /** Too many unexpected frames while the slot waited: the command fails with `error`. */
  | { type: 'out-of-sequence'; slot: number; seq: number; error: CcidError };

interface Awaited {
  seq: number;
  type: CcidResponseType;
  unexpected: number;
}

/**
 * The bulk-IN side of the CCID transport, without I/O: framing with resynchronisation
 * ({@link BulkInFramer}) and matching of answers to the one command in flight per slot
 * (ccid.md §4.2). An answer counts only with the awaited bSlot, bSeq and message type; anything
 * else (a stale answer of an aborted command, a duplicate, another slot's leftovers) is dropped.
 * The adapter calls {@link expect} when it sends a command, {@link push} per completion,
 * {@link cancel} on timeout or ABORT, and {@link discardPartial} on stall or babble.
 */
export class CcidReceiver {
  readonly #framer: BulkInFramer;
  readonly #awaited = new Map<number, Awaited>();
  readonly #maxUnexpected: number;

  constructor(opts: CcidReceiverOptions) {
    this.#framer = new BulkInFramer(opts);
    this.#maxUnexpected = opts.maxUnexpectedFrames ?? 10;
  }

  /** Bytes of a partial message held by the framer. */
  get bufferedBytes(): number {
    return this.#framer.bufferedBytes;
  }

  /** Whether a command on `slot` waits for its answer. */
  isAwaiting(slot: number): boolean {
    return this.#awaited.has(slot);
  }

  /** A command with this bSlot/bSeq was sent; its answer has message type `type`. */
  expect(slot: number, seq: number, type: CcidResponseType): void {
    this.#awaited.set(slot, { seq: seq & 0xff, type, unexpected: 0 });
  }

  /** The command `seq` on `slot` is settled elsewhere (sent failed, reader closed): stop awaiting it. */
  forget(slot: number, seq: number): void {
    if (this.#awaited.get(slot)?.seq === (seq & 0xff)) this.#awaited.delete(slot);
  }

  /** Timeout or ABORT of the command `seq` on `slot`: stop awaiting it and drop any partial message. */
  cancel(slot: number, seq: number): CcidReceiverEvent[] {
    this.forget(slot, seq);
    return this.discardPartial();
  }

  /** Stall, babble or any other lost packet: drop the partial message and resynchronise. */
  discardPartial(): CcidReceiverEvent[] {
    return this.#framer.discardPartial();
  }

  /** Feeds one bulk-IN transfer completion (ZLPs included). */
  push(chunk: Uint8Array): CcidReceiverEvent[] {
    const out: CcidReceiverEvent[] = [];
    const frames = this.#framer.push(chunk);
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      if (f.type === 'dropped') out.push(f);
      else out.push(this.#match(f.bytes));
    }
    return out;
  }

  #match(bytes: Uint8Array): CcidReceiverEvent {
    let r: CcidResponse;
    try {
      r = decodeResponse(bytes);
    } catch {
      return { type: 'dropped', reason: 'undecodable', bytes };
    }
    const w = this.#awaited.get(r.slot);
    if (!w || w.seq !== r.seq || w.type !== r.type) {
      if (w && ++w.unexpected > this.#maxUnexpected) {
        this.#awaited.delete(r.slot);
        const error = new CcidError(
          'CCID_BAD_SEQUENCE',
          `too many unexpected frames on slot ${r.slot}`,
        );
        return { type: 'out-of-sequence', slot: r.slot, seq: w.seq, error };
      }
      return { type: 'dropped', reason: 'unexpected', bytes };
    }
    if (r.commandStatus === 2)
      return { type: 'time-extension', slot: r.slot, seq: r.seq, multiplier: r.bError };
    this.#awaited.delete(r.slot);
    return { type: 'answer', response: r, bytes };
  }
}
