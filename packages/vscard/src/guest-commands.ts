/**
 * The guest commands a client session has surfaced and not yet answered (vscard-protocol.md §6):
 * ids in arrival order, answers released strictly in that order, and the bookkeeping of the
 * host's flushes (a Flush waits for the outstanding answers; ATR, CardRemove and ReaderRemove
 * make the host drop them, rule 5). Pure; the session turns its results into messages.
 */
import type { ApduAnswer } from './session-types.ts';

interface LiveCommand {
  id: number;
  answer?: ApduAnswer;
}

/** Outstanding guest commands of one session. */
export class GuestCommands {
  #live: LiveCommand[] = [];
  #nextId = 1;
  #isFlushRequested = false;

  /** Ids waiting for an answer (or answered but held behind an older one), oldest first. */
  get outstandingIds(): number[] {
    return this.#live.map((c) => c.id);
  }

  /** Whether no command is outstanding. */
  get isEmpty(): boolean {
    return this.#live.length === 0;
  }

  /** Whether `id` was ever issued. */
  isIssued(id: number): boolean {
    return Number.isInteger(id) && id >= 1 && id < this.#nextId;
  }

  /** A new guest command: its id. */
  add(): number {
    const id = this.#nextId++;
    this.#live.push({ id });
    return id;
  }

  /**
   * Records the answer to `id` (copied). False when `id` is no longer outstanding (flushed or
   * answered and sent); throws RangeError when it was already answered and still waits.
   */
  answer(id: number, answer: ApduAnswer): boolean {
    const cmd = this.#live.find((c) => c.id === id);
    if (!cmd) return false;
    if (cmd.answer !== undefined) throw new RangeError(`guest command ${id} is already answered`);
    cmd.answer = answer instanceof Uint8Array ? answer.slice() : { errorCode: answer.errorCode };
    return true;
  }

  /** The answers next in line, in order, removed from the queue. */
  takeReady(): ApduAnswer[] {
    const ready: ApduAnswer[] = [];
    for (let a = this.#live[0]?.answer; a !== undefined; a = this.#live[0]?.answer) {
      this.#live.shift();
      ready.push(a);
    }
    return ready;
  }

  /** The host sent Flush: FlushComplete is due once nothing is outstanding. */
  requestFlush(): void {
    this.#isFlushRequested = true;
  }

  /** The host flushed everything outstanding; returns the ids whose answers are now stale. */
  dropAll(): number[] {
    const stale = this.#live.filter((c) => c.answer !== undefined).map((c) => c.id);
    this.#live = [];
    return stale;
  }

  /** True once when a requested FlushComplete is due (nothing outstanding any more). */
  takeFlushComplete(): boolean {
    if (!this.#isFlushRequested || this.#live.length > 0) return false;
    this.#isFlushRequested = false;
    return true;
  }
}
