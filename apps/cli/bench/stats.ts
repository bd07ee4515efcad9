/** Percentiles and printing for the benchmark (µs in, ms out). */

/** The `p`th percentile (nearest rank) of `xs`; NaN when empty. */
export function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

export const median = (xs: readonly number[]): number => pct(xs, 50);

/** µs as `0.123 ms`. */
export const ms = (us: number): string => `${(us / 1000).toFixed(3)} ms`;

/** One timed exchange: when it started and ended, and the card's side of it (µs, hrtime). */
export interface Sample {
  startUs: number;
  endUs: number;
  /** The command complete at the card. */
  atCardUs: number;
  /** The card's answer written. */
  answeredUs: number;
  /** Time between the command's first and last byte at the card (vpcd's delayed-ACK wait, if any). */
  ackWaitUs: number;
}

/** p50s of one path's samples: the whole exchange, and its legs to and from the card. */
export interface PathStats {
  total: number;
  p90: number;
  /** Start → the command complete at the card. */
  toCard: number;
  /** The card's answer written → end. */
  fromCard: number;
  /** Samples with a delayed-ACK wait over 1 ms (taken out of `total`). */
  ackWaits: number;
}

/** A delayed-ACK wait (vpcd's artefact, ~40 ms) is taken out; a few µs between vpcd's writes are not. */
const ACK_WAIT_US = 1000;
const ackWait = (s: Sample): number => (s.ackWaitUs > ACK_WAIT_US ? s.ackWaitUs : 0);

export function pathStats(samples: readonly Sample[]): PathStats {
  const totals = samples.map((s) => s.endUs - s.startUs - ackWait(s));
  return {
    total: pct(totals, 50),
    p90: pct(totals, 90),
    toCard: pct(
      samples.map((s) => s.atCardUs - s.startUs - ackWait(s)),
      50,
    ),
    fromCard: pct(
      samples.map((s) => s.endUs - s.answeredUs),
      50,
    ),
    ackWaits: samples.filter((s) => ackWait(s) > 0).length,
  };
}

/** `hrtime` in µs. */
export const nowUs = (): number => Number(process.hrtime.bigint()) / 1000;
