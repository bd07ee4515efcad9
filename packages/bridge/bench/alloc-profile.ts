/**
 * Where the page's lending path allocates: V8's sampling heap profiler, counting objects a GC has
 * already collected too (the garbage is what makes the GC pauses, and every fresh byte is memory
 * the next command's code runs through), summed by function and script position. For this
 * package's page-path bench (Node's inspector) and the chain bench's `--alloc` (the page's
 * DevTools session, guest-image).
 */

/** A DevTools session's `call`: Node's `inspector/promises` Session.post or the page's. */
export type DevtoolsCall = (method: string, params?: Record<string, unknown>) => Promise<unknown>;

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

/** Starts sampling every `intervalBytes` on average (smaller: finer, slower). */
export async function startAllocationSampling(
  call: DevtoolsCall,
  intervalBytes = 2048,
): Promise<void> {
  await call('HeapProfiler.enable');
  await call('HeapProfiler.startSampling', {
    samplingInterval: intervalBytes,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
}

/**
 * Stops sampling; lines with the bytes allocated per guest APDU in all, by script, and at the
 * top `top` sites (function and position ← its caller). `scriptOf` names a script by its URL.
 */
export async function stopAllocationSampling(
  call: DevtoolsCall,
  apdus: number,
  opts: { top?: number; scriptOf?: (url: string) => string } = {},
): Promise<string[]> {
  const scriptOf = opts.scriptOf ?? ((url: string) => url.split('/').pop() ?? '');
  const r = (await call('HeapProfiler.stopSampling')) as { profile: { head: ProfileNode } };
  const bySite = new Map<string, number>();
  const byScript = new Map<string, number>();
  let total = 0;
  const add = (sums: Map<string, number>, key: string, bytes: number): void => {
    sums.set(key, (sums.get(key) ?? 0) + bytes);
  };
  const walk = (n: ProfileNode, caller: string): void => {
    const f = n.callFrame;
    const site = `${f.functionName || '(anonymous)'} ${scriptOf(f.url)}:${f.lineNumber + 1}:${f.columnNumber + 1}`;
    if (n.selfSize > 0) {
      add(bySite, `${site} ← ${caller}`, n.selfSize);
      add(byScript, scriptOf(f.url) || '(native or page)', n.selfSize);
      total += n.selfSize;
    }
    for (const c of n.children) walk(c, site);
  };
  walk(r.profile.head, '');
  const perApdu = (bytes: number): string => (bytes / Math.max(1, apdus)).toFixed(0);
  const largest = (sums: Map<string, number>): [string, number][] =>
    [...sums].sort((a, b) => b[1] - a[1]);
  const scripts = largest(byScript).map(([k, v]) => `${k} ${perApdu(v)} B`);
  const lines = [
    `  allocations: ${perApdu(total)} B per guest APDU (sampled, incl. collected); by script: ${scripts.join(', ')}`,
  ];
  for (const [site, bytes] of largest(bySite).slice(0, opts.top ?? 15))
    lines.push(`    ${perApdu(bytes).padStart(6)} B  ${site}`);
  return lines;
}
