/**
 * One lazy timer for every answer wait of a transport (issue 11 §3: a setTimeout and a
 * clearTimeout per command were among the page's top native costs per guest APDU).
 *
 * Each wait records its deadline (`now()`-based: performance.now() by default, a monotonic
 * clock, so a wall-clock step (NTP, a user setting the time) moves no timeout; Vitest's fake
 * timers drive it when they fake `performance`) and asks to be watched. One timer is armed for the earliest deadline; when it fires
 * it expires the waits that are due and re-arms for the next deadline, if any. A wait that ends
 * is forgotten without touching the timer; the timer is re-armed early only for a deadline
 * earlier than the armed one. So back-to-back commands with the same timeout arm one timer per
 * timeout period, not one per command, and each timeout still fires at its deadline, within
 * timer precision: the armed deadline is due when its timer fires, whatever the clock says.
 *
 * Node: while nothing is watched the timer is unref'd, so an idle transport does not keep the
 * process alive; `stop()` clears it (the transport is closed or the reader gone).
 */

/** The clock and timer functions of a watchdog (tests may inject their own). */
export interface WatchdogTimers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The globals, looked up at each call (so a spy or a fake installed later is used). */
const GLOBAL_TIMERS: WatchdogTimers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Something with a deadline (an answer wait). */
export interface Deadlined {
  /** When it is due, on the watchdog's clock (ms). */
  readonly deadlineMs: number;
  /** Called once it is due; the watchdog has forgotten it already. */
  expire(): void;
}

/** A Node timer handle's ref/unref (absent in browsers, where handles are numbers). */
interface Refable {
  ref?: () => unknown;
  unref?: () => unknown;
}

/** The watchdog of one transport; see the file comment. */
export class DeadlineWatchdog {
  readonly #timers: WatchdogTimers;
  /** Watched waits, in the order they were first watched. */
  readonly #waits: Deadlined[] = [];
  #timer: unknown = undefined;
  /** Deadline the timer is armed for; Infinity when none is armed. */
  #armedAtMs = Number.POSITIVE_INFINITY;
  readonly #onTimer = (): void => this.#fire();

  constructor(timers: WatchdogTimers = GLOBAL_TIMERS) {
    this.#timers = timers;
  }

  /** The clock deadlines are set on. */
  now(): number {
    return this.#timers.now();
  }

  /** Number of waits watched (for tests and diagnostics). */
  get watching(): number {
    return this.#waits.length;
  }

  /** Watches `w` at its current `deadlineMs` (again, after a wait moved its deadline). */
  watch(w: Deadlined): void {
    const waits = this.#waits;
    if (waits.indexOf(w) < 0) {
      waits.push(w);
      if (waits.length === 1) (this.#timer as Refable | undefined)?.ref?.();
    }
    if (w.deadlineMs < this.#armedAtMs) this.#arm(w.deadlineMs);
  }

  /** Stops watching `w` (it ended); the timer stays as it is. */
  forget(w: Deadlined): void {
    const waits = this.#waits;
    const at = waits.indexOf(w);
    if (at < 0) return;
    waits.splice(at, 1);
    if (waits.length === 0) (this.#timer as Refable | undefined)?.unref?.();
  }

  /** Clears the timer and forgets every wait (none of them will expire). */
  stop(): void {
    this.#waits.length = 0;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedAtMs = Number.POSITIVE_INFINITY;
  }

  #arm(atMs: number): void {
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#armedAtMs = atMs;
    this.#timer = this.#timers.setTimeout(this.#onTimer, Math.max(0, atMs - this.#timers.now()));
  }

  /** The timer fired: expire what is due (earliest first), then re-arm for the next deadline. */
  #fire(): void {
    // The armed deadline has come by the timer's own clock, even if the wall clock lags (a
    // timer firing a millisecond early, a clock set back): expire as a timer per wait did.
    const now = Math.max(this.#timers.now(), this.#armedAtMs);
    this.#timer = undefined;
    this.#armedAtMs = Number.POSITIVE_INFINITY;
    const waits = this.#waits;
    let due: Deadlined[] | undefined;
    for (let i = 0; i < waits.length;) {
      const w = waits[i]!;
      if (w.deadlineMs <= now) {
        (due ??= []).push(w);
        waits.splice(i, 1);
      } else i++;
    }
    // Stable: equal deadlines expire in the order they were watched, as separate timers did.
    due?.sort((a, b) => a.deadlineMs - b.deadlineMs);
    for (let i = 0; due !== undefined && i < due.length; i++) due[i]!.expire();
    // An expiry may have watched (and armed for) another wait meanwhile.
    let next = Number.POSITIVE_INFINITY;
    for (let i = 0; i < waits.length; i++) next = Math.min(next, waits[i]!.deadlineMs);
    if (next < this.#armedAtMs) this.#arm(next);
  }
}
