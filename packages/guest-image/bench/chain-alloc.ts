/**
 * Where the page allocates while the guest's APDUs flow: V8's sampling heap profiler over the
 * page's DevTools session, counting objects a GC has already collected too (the garbage is
 * what makes the GC pauses), summed by function and script position.
 */
import type { CdpPage } from './cdp.ts';

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

export async function startAllocationSampling(page: CdpPage): Promise<void> {
  await page.call('HeapProfiler.enable');
  await page.call('HeapProfiler.startSampling', {
    samplingInterval: 2048,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
}

/** Stops sampling; lines with the top allocation sites (bytes per guest APDU). */
export async function stopAllocationSampling(page: CdpPage, apdus: number): Promise<string[]> {
  const r = (await page.call('HeapProfiler.stopSampling')) as { profile: { head: ProfileNode } };
  const bySite = new Map<string, number>();
  const byScript = new Map<string, number>();
  let total = 0;
  const walk = (n: ProfileNode, caller: string): void => {
    const f = n.callFrame;
    const site = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop() ?? ''}:${f.lineNumber + 1}:${f.columnNumber + 1}`;
    if (n.selfSize > 0) {
      const key = `${site} ← ${caller}`;
      bySite.set(key, (bySite.get(key) ?? 0) + n.selfSize);
      const script = f.url.split('/').pop() || '(native or page)';
      byScript.set(script, (byScript.get(script) ?? 0) + n.selfSize);
      total += n.selfSize;
    }
    for (const c of n.children) walk(c, site);
  };
  walk(r.profile.head, '');
  const perApdu = (bytes: number): string => (bytes / Math.max(1, apdus)).toFixed(0);
  const lines = [
    `  page allocations: ${perApdu(total)} B per guest APDU (sampled, incl. collected); by script: ${[
      ...byScript,
    ]
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${perApdu(v)} B`)
      .join(', ')}`,
  ];
  for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 15))
    lines.push(`    ${perApdu(bytes).padStart(6)} B  ${site}`);
  return lines;
}
