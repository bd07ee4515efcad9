/**
 * V8 CPU profiles (DevTools `Profiler.stop`, from Node's inspector or a page's) summed by a key
 * of each sample's function, for the benchmarks that profile the page's lending path: this
 * package's page-path bench and the chain bench's `--cpu` (guest-image).
 */

/** The parts of a `Profiler.Profile` the sums need. */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }[];
  samples: number[];
  timeDeltas: number[];
}

/** A sample's function, as the key functions see it. */
export type ProfileFrame = CpuProfile['nodes'][number]['callFrame'];

/**
 * Self time (µs) summed by `keyOf` of each sample's function; samples whose key is null are left
 * out. A sample's time is the delta to the next one.
 */
export function selfTimeBy(
  profile: CpuProfile,
  keyOf: (frame: ProfileFrame) => string | null,
): Map<string, number> {
  const frameById = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const sums = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const frame = frameById.get(profile.samples[i] ?? -1);
    const key = frame === undefined ? null : keyOf(frame);
    if (key !== null) sums.set(key, (sums.get(key) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
  }
  return sums;
}

/** The entries of `sums`, largest first. */
export function largestFirst(sums: Map<string, number>): [string, number][] {
  return [...sums].sort((a, b) => b[1] - a[1]);
}
