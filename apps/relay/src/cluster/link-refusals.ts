/**
 * How the link listener (link.ts) refuses without being held up by the refused: a refused
 * link is ended with `ERR <reason>\n` and destroyed if its peer has not closed within
 * {@link LINK_REFUSAL_LINGER_MS}; a burst of refusals of one kind is logged as its first line
 * and one summary line per {@link LINK_REFUSAL_WINDOW_MS} instead of a line per connection.
 * Timers are injected ({@link SessionTimers}); Node's are unref'd, so none keeps the process
 * alive.
 */
import type net from 'node:net';
import type { SessionTimers, TimerHandle } from '../session/timers.ts';

/** Longest wait for the peer of a refused link to close after `ERR <reason>\n`, ms. */
export const LINK_REFUSAL_LINGER_MS = 2000;

/** Refusals of one kind within this long after the first are counted, not logged, ms. */
export const LINK_REFUSAL_WINDOW_MS = 10_000;

/** Node's timers, unref'd: a pending linger or summary never keeps the process alive. */
export const UNREF_TIMERS: SessionTimers = {
  set: (fn, ms, arg) => setTimeout(fn, ms, arg).unref(),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Ends `socket` with `ERR <reason>\n` and destroys it unless its peer closes within
 * `lingerMs` (the timer is cleared on close).
 */
export function endRefused(
  socket: net.Socket,
  reason: string,
  lingerMs: number,
  timers: SessionTimers,
): void {
  if (socket.destroyed) return;
  const linger = timers.set((s: net.Socket) => s.destroy(), lingerMs, socket);
  socket.once('close', () => timers.clear(linger));
  socket.end(`ERR ${reason}\n`);
}

/**
 * Pure bookkeeping of one burst: the first refusal opens a window and is logged, later ones
 * are counted until the window is ended (by the caller's timer, or on close). Time enters
 * only through that timer.
 */
export class RefusalTally {
  #isOpen = false;
  #more = 0;

  /** Whether a window is open. */
  get isOpen(): boolean {
    return this.#isOpen;
  }

  /** A refusal: `first` opens a window (log it, end it later), `counted` falls into the open one. */
  note(): 'first' | 'counted' {
    if (this.#isOpen) {
      this.#more++;
      return 'counted';
    }
    this.#isOpen = true;
    this.#more = 0;
    return 'first';
  }

  /** Closes the window: the refusals counted after its first. */
  end(): number {
    const more = this.#more;
    this.#isOpen = false;
    this.#more = 0;
    return more;
  }
}

export interface CoalescedRefusalsOptions {
  /** How long a window stays open after its first refusal, ms. */
  readonly windowMs: number;
  readonly timers: SessionTimers;
  /** Writes one log line. */
  readonly emit: (line: string) => void;
  /** The summary line for `more` refusals counted in a window (at most `windowMs` long). */
  readonly summary: (more: number) => string;
}

/** Logs the first refusal of a burst at once and the rest as one summary when its window ends. */
export class CoalescedRefusals {
  readonly #o: CoalescedRefusalsOptions;
  readonly #tally = new RefusalTally();
  #timer: TimerHandle | undefined;

  constructor(opts: CoalescedRefusalsOptions) {
    this.#o = opts;
  }

  /** One refusal, with the line that describes it alone. */
  report(line: string): void {
    if (this.#tally.note() === 'counted') return;
    this.#o.emit(line);
    this.#timer = this.#o.timers.set(
      (self: CoalescedRefusals) => self.#end(),
      this.#o.windowMs,
      this,
    );
  }

  /** Logs what the open window counted so far and clears its timer: nothing is left pending. */
  close(): void {
    if (this.#timer !== undefined) this.#o.timers.clear(this.#timer);
    if (this.#tally.isOpen) this.#end();
  }

  #end(): void {
    this.#timer = undefined;
    const more = this.#tally.end();
    if (more > 0) this.#o.emit(this.#o.summary(more));
  }
}
