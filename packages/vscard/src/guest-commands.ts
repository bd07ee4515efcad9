/**
 * The guest commands a client session has surfaced and not yet answered (vscard-protocol.md §6):
 * ids in arrival order, answers released strictly in that order, and the bookkeeping of the
 * host's flushes (a Flush waits for the outstanding answers; ATR, CardRemove and ReaderRemove
 * make the host drop them, rule 5). Pure; the session turns its results into messages.
 *
 * Ids are issued in order and leave only from the oldest (its answer is sent) or all at once
 * (the host flushed them), so the outstanding ones are always the range `#firstId…#nextId − 1`.
 * Hot path (one command per guest APDU): nothing is allocated per command; the usual answer —
 * to the oldest command — is handed straight back to be sent, neither copied nor kept. Only an
 * answer that must wait behind an older one is kept, as a copy, in a map made on first need.
 */
import type { ApduAnswer } from './session-types.ts';

/** Where {@link GuestCommands.answer} put an answer. */
export type AnswerPlacement =
  /** To the oldest command: it is no longer outstanding, send the answer now (uncopied). */
  | 'next'
  /** Behind an older unanswered command: kept (a copy) until that one is answered. */
  | 'held'
  /** The command is no longer outstanding (flushed, or answered and sent). */
  | 'stale';

/** Outstanding guest commands of one session. */
export class GuestCommands {
  /** The oldest outstanding id (= `#nextId` when none is outstanding). */
  #firstId = 1;
  #nextId = 1;
  /** Answers given to outstanding commands other than the oldest, by id. */
  #held: Map<number, ApduAnswer> | null = null;
  #isFlushRequested = false;

  /** Ids waiting for an answer (or answered but held behind an older one), oldest first. */
  get outstandingIds(): number[] {
    const ids: number[] = [];
    for (let id = this.#firstId; id < this.#nextId; id++) ids.push(id);
    return ids;
  }

  /** Whether no command is outstanding. */
  get isEmpty(): boolean {
    return this.#firstId === this.#nextId;
  }

  /** Whether `id` was ever issued. */
  isIssued(id: number): boolean {
    return Number.isInteger(id) && id >= 1 && id < this.#nextId;
  }

  /** A new guest command: its id. */
  add(): number {
    return this.#nextId++;
  }

  /**
   * Records the answer to `id`; see {@link AnswerPlacement}. An answer to the oldest command is
   * not kept (`'next'`: the caller sends it at once, before its bytes can change); one that
   * must wait is copied. Throws RangeError when `id` was already answered and still waits.
   */
  answer(id: number, answer: ApduAnswer): AnswerPlacement {
    if (id < this.#firstId || id >= this.#nextId) return 'stale';
    if (id === this.#firstId) {
      this.#firstId++;
      return 'next';
    }
    const held = (this.#held ??= new Map());
    if (held.has(id)) throw new RangeError(`guest command ${id} is already answered`);
    held.set(id, answer instanceof Uint8Array ? answer.slice() : { errorCode: answer.errorCode });
    return 'held';
  }

  /** The next answer in line, removed from the queue; null when the oldest command waits. */
  takeNext(): ApduAnswer | null {
    const held = this.#held;
    if (held === null || held.size === 0) return null;
    const a = held.get(this.#firstId);
    if (a === undefined) return null;
    held.delete(this.#firstId);
    this.#firstId++;
    return a;
  }

  /** The host sent Flush: FlushComplete is due once nothing is outstanding. */
  requestFlush(): void {
    this.#isFlushRequested = true;
  }

  /** The host flushed everything outstanding; returns the ids whose answers are now stale. */
  dropAll(): number[] {
    const stale = this.#held === null ? [] : [...this.#held.keys()].sort((a, b) => a - b);
    this.#held?.clear();
    this.#firstId = this.#nextId;
    return stale;
  }

  /** True once when a requested FlushComplete is due (nothing outstanding any more). */
  takeFlushComplete(): boolean {
    if (!this.#isFlushRequested || !this.isEmpty) return false;
    this.#isFlushRequested = false;
    return true;
  }
}
