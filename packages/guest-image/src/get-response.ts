/**
 * Delivers card answers that are too long for QEMU 7.2's bulk-in buffer (374 bytes,
 * vscard-protocol.md §4) the way a T=0 card would: the first 256 data bytes with SW `61 xx`
 * (ISO 7816-4 §5.1.3: "SW2 encodes the number of data bytes still available", 00 = 256 or
 * more), the rest on GET RESPONSE (`xx C0 00 00 Le`, ISO 7816-4 §11.4.5). Pure state machine.
 * Answers that fit are passed through untouched (status words are data).
 */
import { VSCARD_MAX_GUEST_ANSWER_BYTES } from '@cardlend/vscard';

/** Options of {@link GetResponseSplitter}. */
export interface GetResponseSplitterOptions {
  /** Longest answer (data + SW) passed through whole, bytes (default 374). */
  maxAnswerBytes?: number;
}

/** See the module comment. One instance per card session. */
export class GetResponseSplitter {
  readonly #maxAnswerBytes: number;
  #pending: Uint8Array | null = null;
  #finalSw: [number, number] = [0x90, 0x00];

  constructor(opts: GetResponseSplitterOptions = {}) {
    this.#maxAnswerBytes = opts.maxAnswerBytes ?? VSCARD_MAX_GUEST_ANSWER_BYTES;
    if (this.#maxAnswerBytes < 258)
      throw new RangeError('maxAnswerBytes must be at least 258 (256 data + SW)');
  }

  /** Bytes still waiting for GET RESPONSE. */
  get pendingBytes(): number {
    return this.#pending?.length ?? 0;
  }

  /**
   * Call with every guest command before the card sees it. Returns the answer when the
   * command is a GET RESPONSE for held data; otherwise null (held data is dropped: the
   * guest moved on) and the command goes to the card.
   */
  intercept(command: Uint8Array): Uint8Array | null {
    const isGetResponse =
      command.length === 5 && command[1] === 0xc0 && command[2] === 0 && command[3] === 0;
    if (!isGetResponse || this.#pending === null) {
      this.#pending = null;
      return null;
    }
    return this.#next(command[4] === 0 ? 256 : (command[4] ?? 256));
  }

  /** Call with every card answer; returns what goes to the guest. */
  shape(answer: Uint8Array): Uint8Array {
    if (answer.length <= this.#maxAnswerBytes) return answer;
    const n = answer.length;
    this.#finalSw = [answer[n - 2] ?? 0x6f, answer[n - 1] ?? 0x00];
    this.#pending = answer.slice(0, n - 2);
    return this.#next(256);
  }

  #next(le: number): Uint8Array {
    const pending = this.#pending ?? new Uint8Array(0);
    const take = Math.min(le, pending.length);
    const rest = pending.length - take;
    const out = new Uint8Array(take + 2);
    out.set(pending.subarray(0, take));
    if (rest > 0) {
      out[take] = 0x61;
      out[take + 1] = rest >= 256 ? 0x00 : rest;
      this.#pending = pending.slice(take);
    } else {
      out[take] = this.#finalSw[0];
      out[take + 1] = this.#finalSw[1];
      this.#pending = null;
    }
    return out;
  }
}
