/**
 * Guest commands (APDUs from QEMU) a session has passed to the browser and not yet seen
 * answered: their count (answers to them are exempt from the message rate; the cleanup
 * answers the rest with VSC_Error) and, with a metrics observer, their arrival times for the
 * APDU latency. QEMU answers or drops them all on ATR, CardRemove and ReaderRemove
 * (vscard-protocol.md §6 rule 5).
 */
import { VSC } from '@cardlend/vscard';
import type { SessionObserver } from './types.ts';

/** Guest-command timestamps kept for latency; QEMU itself holds at most 128 (§4). */
const MAX_TRACKED_COMMANDS = 1024;

/** Types after which QEMU has answered or dropped every outstanding guest command (§6 rule 5). */
const FLUSHES_GUEST_COMMANDS: ReadonlySet<number> = new Set([
  VSC.ATR,
  VSC.CardRemove,
  VSC.ReaderRemove,
]);

export class GuestCommands {
  /** Guest commands QEMU sent that the browser has not answered yet. */
  outstanding = 0;
  /** Arrival times of outstanding guest commands (oldest first); only with an observer. */
  #times: number[] | undefined;
  readonly #observer: SessionObserver | undefined;
  readonly #now: () => number;

  constructor(observer: SessionObserver | undefined, now: () => number) {
    this.#observer = observer;
    this.#now = now;
  }

  /** A guest command went to the browser. */
  issued(): void {
    this.outstanding++;
    if (this.#observer) {
      const times = (this.#times ??= []);
      if (times.length >= MAX_TRACKED_COMMANDS) times.shift();
      times.push(this.#now());
    }
  }

  /** Whether a browser message of `type` answers an outstanding guest command. */
  isAnswer(type: number): boolean {
    return (type === VSC.APDU || type === VSC.Error) && this.outstanding > 0;
  }

  /** A browser message of `type` went to QEMU; `isAnswer` as {@link isAnswer} said. */
  passed(type: number, isAnswer: boolean): void {
    if (isAnswer) {
      this.outstanding--;
      const issuedAt = this.#times?.shift();
      if (issuedAt !== undefined) this.#observer?.apduAnswered(this.#now() - issuedAt);
    } else if (FLUSHES_GUEST_COMMANDS.has(type)) {
      this.outstanding = 0;
      if (this.#times) this.#times.length = 0;
    }
  }

  /** Hands every outstanding command to the cleanup (it answers them) and forgets them. */
  takeAll(): number {
    const n = this.outstanding;
    this.outstanding = 0;
    this.#times = undefined;
    return n;
  }
}
