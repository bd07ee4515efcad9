/** Small helpers of the relay benchmark: orders, a repeatable PRNG, percentiles, progress. */
import { percentile } from './bench-common.ts';

/** Rotates the order each round, so load changes on this shared machine hit every variant alike. */
export function rotated<T>(list: readonly T[], round: number): T[] {
  const k = round % Math.max(1, list.length);
  return [...list.slice(k), ...list.slice(0, k)];
}

/** A small deterministic PRNG in [0, 1) (Marsaglia's xorshift32), so runs are repeatable. */
export function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

/** Fisher–Yates shuffle of a copy. */
export function shuffled<T>(list: readonly T[], random: () => number): T[] {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

export function phase(label: string): () => void {
  const t0 = performance.now();
  process.stdout.write(`  ${label}…`);
  return () => process.stdout.write(` ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}

/** Percentile (nearest rank) of unsorted values; the values are not reordered. */
export function percentileOf(values: readonly number[], p: number): number {
  return percentile(
    [...values].sort((x, y) => x - y),
    p,
  );
}

/** Median (the mean of the middle two for an even count; NaN when empty). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  if (sorted.length === 0) return NaN;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
