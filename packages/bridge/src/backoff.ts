/**
 * Reconnect policy: exponential backoff with jitter. Pure; the caller supplies the random
 * source and runs the timer.
 */

/** Reconnect settings (all in milliseconds / counts). */
export interface ReconnectPolicy {
  /** Delay before the first retry, default 500 ms; > 0. */
  initialDelayMs: number;
  /** Ceiling of the delay, default 15 000 ms; ≥ initialDelayMs. */
  maxDelayMs: number;
  /** Retries after a drop before giving up (link `failed`), default 10; `Infinity` allowed; ≥ 0. */
  maxAttempts: number;
}

/** Defaults of {@link ReconnectPolicy}. */
export const DEFAULT_RECONNECT_POLICY: Readonly<ReconnectPolicy> = {
  initialDelayMs: 500,
  maxDelayMs: 15_000,
  maxAttempts: 10,
};

/** Fills in and checks a partial policy; throws `RangeError` on nonsense values. */
export function resolveReconnectPolicy(opts: Partial<ReconnectPolicy> = {}): ReconnectPolicy {
  const policy = { ...DEFAULT_RECONNECT_POLICY, ...opts };
  if (!(policy.initialDelayMs > 0) || !Number.isFinite(policy.initialDelayMs)) {
    throw new RangeError(`initialDelayMs must be a positive number, got ${policy.initialDelayMs}`);
  }
  if (!(policy.maxDelayMs >= policy.initialDelayMs) || !Number.isFinite(policy.maxDelayMs)) {
    throw new RangeError(`maxDelayMs must be ≥ initialDelayMs, got ${policy.maxDelayMs}`);
  }
  if (
    !(policy.maxAttempts >= 0) ||
    (Number.isFinite(policy.maxAttempts) && !Number.isInteger(policy.maxAttempts))
  ) {
    throw new RangeError(
      `maxAttempts must be a non-negative integer or Infinity, got ${policy.maxAttempts}`,
    );
  }
  return policy;
}

/**
 * Delay before retry number `attempt` (1 = first retry): `initial · 2^(attempt-1)` capped
 * at `maxDelayMs`, then "equal jitter" — a uniform value in [delay/2, delay] — so many
 * browsers cut off by one relay restart do not come back in lockstep.
 *
 * @param random a number in [0, 1), e.g. `Math.random()`.
 */
export function backoffDelayMs(attempt: number, policy: ReconnectPolicy, random: number): number {
  if (!Number.isInteger(attempt) || attempt < 1)
    throw new RangeError(`attempt must be ≥ 1, got ${attempt}`);
  const exponent = Math.min(attempt - 1, 30);
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** exponent);
  const r = Math.min(Math.max(random, 0), 1);
  return Math.round(ceiling / 2 + (ceiling / 2) * r);
}
