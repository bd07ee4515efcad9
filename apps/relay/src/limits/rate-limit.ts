/**
 * Token-bucket rate limiter for the messages of one session (issue 6, "Limits": rate
 * limits on messages per session). O(1) time and two numbers of state per session;
 * refilled lazily from the caller's clock, so there is no timer.
 *
 * Integration (session/relay-session.ts): one `new TokenBucket(config.messageRate)` per session;
 * on every browser message `if (!bucket.take(performance.now())) close(refusalClose('message-rate'))`.
 */

/** Default browser message rate: a real card answers at most a few hundred APDUs/s; this only stops floods. */
export const DEFAULT_MESSAGE_RATE = { ratePerSecond: 5000, burst: 10_000 } as const;

/** Options of {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Sustained rate, tokens per second (> 0). */
  readonly ratePerSecond: number;
  /** Bucket size: the most tokens that can be taken at once after a quiet period (≥ 1). */
  readonly burst: number;
}

/** A token bucket (the bucket starts full). */
export class TokenBucket {
  readonly #ratePerMs: number;
  readonly #burst: number;
  #tokens: number;
  #lastMs: number | undefined;

  constructor(opts: TokenBucketOptions = DEFAULT_MESSAGE_RATE) {
    if (!(opts.ratePerSecond > 0) || !Number.isFinite(opts.ratePerSecond))
      throw new RangeError('ratePerSecond must be > 0');
    if (!(opts.burst >= 1) || !Number.isFinite(opts.burst))
      throw new RangeError('burst must be ≥ 1');
    this.#ratePerMs = opts.ratePerSecond / 1000;
    this.#burst = opts.burst;
    this.#tokens = opts.burst;
  }

  /** Tokens available at the last `take` (fractional). */
  get available(): number {
    return this.#tokens;
  }

  /**
   * Takes `count` tokens (default 1) at monotonic time `nowMs`; returns false, taking
   * nothing, when there are not enough. A clock that goes backwards adds nothing.
   */
  take(nowMs: number, count = 1): boolean {
    if (this.#lastMs !== undefined && nowMs > this.#lastMs) {
      this.#tokens = Math.min(this.#burst, this.#tokens + (nowMs - this.#lastMs) * this.#ratePerMs);
    }
    if (this.#lastMs === undefined || nowMs > this.#lastMs) this.#lastMs = nowMs;
    if (this.#tokens < count) return false;
    this.#tokens -= count;
    return true;
  }
}
