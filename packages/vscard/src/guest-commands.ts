/**
 * The guest commands a client session has surfaced and not yet answered (vscard-protocol.md §6):
 * ids in arrival order, answers released strictly in that order, and the bookkeeping of the
 * host's flushes (a Flush waits for the outstanding answers; ATR, CardRemove and ReaderRemove
 * make the host drop them, rule 5). Pure; the session turns its results into messages.
 *
 * Hot path (one command per guest APDU): two parallel arrays instead of a record per command,
 * index loops instead of closures, and the usual answer — the one to the oldest command — is
 * handed straight back to be sent, neither copied nor queued.
 */
import type { ApduAnswer } from './session-types.ts';

/** Where {@link GuestCommands.answer} put an answer. */
export type AnswerPlacement =
  /** To the oldest command: removed from the queue, send it now (the caller's bytes, uncopied). */
  | 'next'
  /** Behind an older unanswered command: kept (a copy) until that one is answered. */
  | 'held'
  /** The command is no longer outstanding (flushed, or answered and sent). */
  | 'stale';

/** Outstanding guest commands of one session. */
export class GuestCommands {
  /** Outstanding ids, oldest first. */
  #ids: number[] = [];
  /** The answer given to each of `#ids` (same index), or null while it waits for one. */
  #answers: (ApduAnswer | null)[] = [];
  #nextId = 1;
  #isFlushRequested = false;

  /** Ids waiting for an answer (or answered but held behind an older one), oldest first. */
  get outstandingIds(): number[] {
    return this.#ids.slice();
  }

  /** Whether no command is outstanding. */
  get isEmpty(): boolean {
    return this.#ids.length === 0;
  }

  /** Whether `id` was ever issued. */
  isIssued(id: number): boolean {
    return Number.isInteger(id) && id >= 1 && id < this.#nextId;
  }

  /** A new guest command: its id. */
  add(): number {
    const id = this.#nextId++;
    this.#ids.push(id);
    this.#answers.push(null);
    return id;
  }

  /**
   * Records the answer to `id`; see {@link AnswerPlacement}. An answer to the oldest command is
   * not kept (`'next'`: the caller sends it at once, before its bytes can change); one that
   * must wait is copied. Throws RangeError when `id` was already answered and still waits.
   */
  answer(id: number, answer: ApduAnswer): AnswerPlacement {
    const ids = this.#ids;
    let at = 0;
    while (at < ids.length && ids[at] !== id) at++;
    if (at === ids.length) return 'stale';
    if (this.#answers[at] !== null) throw new RangeError(`guest command ${id} is already answered`);
    if (at === 0) {
      ids.shift();
      this.#answers.shift();
      return 'next';
    }
    this.#answers[at] =
      answer instanceof Uint8Array ? answer.slice() : { errorCode: answer.errorCode };
    return 'held';
  }

  /** The next answer in line, removed from the queue; null when the oldest command waits. */
  takeNext(): ApduAnswer | null {
    const a = this.#answers.length > 0 ? (this.#answers[0] ?? null) : null;
    if (a === null) return null;
    this.#ids.shift();
    this.#answers.shift();
    return a;
  }

  /** The host sent Flush: FlushComplete is due once nothing is outstanding. */
  requestFlush(): void {
    this.#isFlushRequested = true;
  }

  /** The host flushed everything outstanding; returns the ids whose answers are now stale. */
  dropAll(): number[] {
    const stale: number[] = [];
    for (let i = 0; i < this.#ids.length; i++) {
      if (this.#answers[i] !== null) stale.push(this.#ids[i] ?? 0);
    }
    this.#ids = [];
    this.#answers = [];
    return stale;
  }

  /** True once when a requested FlushComplete is due (nothing outstanding any more). */
  takeFlushComplete(): boolean {
    if (!this.#isFlushRequested || this.#ids.length > 0) return false;
    this.#isFlushRequested = false;
    return true;
  }
}
