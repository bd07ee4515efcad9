/**
 * When to retry a dropped relay connection: the attempt count and its backoff delay
 * (backoff.ts), reset after a connection that stayed up. Pure; the random source is injected.
 */
import { backoffDelayMs } from '../backoff.ts';
import type { ReconnectPolicy } from '../backoff.ts';

/** A connection lent for this long (ms) counts as stable: the next drop starts the backoff afresh. */
export const STABLE_CONNECTION_MS = 10_000;

/** Attempt bookkeeping across connections (see the module comment). */
export class ReconnectSchedule {
  readonly #policy: ReconnectPolicy;
  readonly #random: () => number;
  #attempt = 0;

  constructor(policy: ReconnectPolicy, random: () => number) {
    this.#policy = policy;
    this.#random = random;
  }

  /**
   * A connection ended; `lentAtMs` is when its reader was acknowledged (null: never). Only a
   * connection that stayed up a while resets the backoff: a relay or VM that accepts and
   * drops at once must not be hammered forever.
   */
  connectionEnded(lentAtMs: number | null, nowMs: number): void {
    if (lentAtMs !== null && nowMs - lentAtMs >= STABLE_CONNECTION_MS) this.#attempt = 0;
  }

  /** The next retry (attempt from 1, delay in ms), or `null` once `maxAttempts` are used up. */
  next(): { attempt: number; delayMs: number } | null {
    this.#attempt++;
    if (this.#attempt > this.#policy.maxAttempts) return null;
    return {
      attempt: this.#attempt,
      delayMs: backoffDelayMs(this.#attempt, this.#policy, this.#random()),
    };
  }
}
