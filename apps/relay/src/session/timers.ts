/**
 * The timers a session arms (guest-answer grace, cleanup acks, FIN, close handshake, slow
 * reader), injectable so tests decide when time passes instead of sleeping.
 */

/** A timer handle as the {@link SessionTimers} that made it understands it. */
export type TimerHandle = unknown;

/** Arms and cancels one-shot timers; `arg` is passed to `fn` (no closure per timer). */
export interface SessionTimers {
  set<A>(fn: (arg: A) => void, ms: number, arg: A): TimerHandle;
  clear(handle: TimerHandle): void;
}

/** Node's timers. */
export const NODE_TIMERS: SessionTimers = {
  set: (fn, ms, arg) => setTimeout(fn, ms, arg),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
