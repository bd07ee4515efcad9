/**
 * A session's counters: messages and bytes either way (stats, metrics) and the guest commands
 * (APDUs from QEMU) passed to the browser and not yet seen answered — their count (answers to
 * them are exempt from the message rate; the cleanup answers the rest with VSC_Error) and,
 * with a metrics observer, their arrival times for the APDU latency. QEMU answers or drops
 * them all on ATR, CardRemove and ReaderRemove (vscard-protocol.md §6 rule 5).
 */
import { VSC } from '@cardlend/vscard';
import type { SessionObserver, SessionStats } from './types.ts';

/** Guest-command timestamps kept for latency; QEMU itself holds at most 128 (§4). */
const MAX_TRACKED_COMMANDS = 1024;

/** Types after which QEMU has answered or dropped every outstanding guest command (§6 rule 5). */
const FLUSHES_GUEST_COMMANDS: ReadonlySet<number> = new Set([
  VSC.ATR,
  VSC.CardRemove,
  VSC.ReaderRemove,
]);

export class SessionCounters {
  // The stats as fields (an idle session keeps no separate object for them).
  #messagesFromBrowser = 0;
  #bytesFromBrowser = 0;
  #messagesToBrowser = 0;
  #bytesToBrowser = 0;
  #guestCommands = 0;
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

  /** The counts so far (a copy). */
  get stats(): SessionStats {
    return {
      messagesFromBrowser: this.#messagesFromBrowser,
      bytesFromBrowser: this.#bytesFromBrowser,
      messagesToBrowser: this.#messagesToBrowser,
      bytesToBrowser: this.#bytesToBrowser,
      guestCommands: this.#guestCommands,
    };
  }

  /** Messages relayed either way so far. */
  get messageCount(): number {
    return this.#messagesFromBrowser + this.#messagesToBrowser;
  }

  /** A message went to the browser. */
  toBrowser(length: number): void {
    this.#messagesToBrowser++;
    this.#bytesToBrowser += length;
    this.#observer?.bytes('to_browser', length);
  }

  /** A guest command came from QEMU; `isRelayed`: while relaying (it awaits an answer). */
  guestCommand(isRelayed: boolean): void {
    this.#guestCommands++;
    if (!isRelayed) return;
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
  toVm(type: number, length: number, isAnswer: boolean): void {
    this.#messagesFromBrowser++;
    this.#bytesFromBrowser += length;
    this.#observer?.bytes('to_vm', length);
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
