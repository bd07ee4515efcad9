/**
 * Where the page's main thread spends its time while the guest's APDUs flow: V8's sampling CPU
 * profiler over the page's DevTools session (a sample every 50 µs), self time summed by
 * function and script position, per guest APDU. The page's clock is too coarse (100 µs) to time
 * its own share of one APDU; the profile says what that share is made of.
 */
import type { CdpPage } from './cdp.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Nodes that are not the page's JavaScript. */
const NOT_JS = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

export async function startCpuProfile(page: CdpPage): Promise<void> {
  await page.call('Profiler.enable');
  await page.call('Profiler.setSamplingInterval', { interval: 50 });
  await page.call('Profiler.start');
}

/** Stops the profiler; lines with µs per guest APDU in total and for the top functions. */
export async function stopCpuProfile(page: CdpPage, apdus: number): Promise<string[]> {
  const { profile } = (await page.call('Profiler.stop')) as { profile: CpuProfile };
  const nodeById = new Map(profile.nodes.map((n) => [n.id, n]));
  const bySite = new Map<string, number>();
  const byKind = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const node = nodeById.get(profile.samples[i] ?? -1);
    const us = profile.timeDeltas[i + 1] ?? 0; // a sample's time is the delta to the next one
    if (node === undefined) continue;
    const f = node.callFrame;
    const name = f.functionName || '(anonymous)';
    const kind = NOT_JS.has(name) ? name : 'JavaScript';
    byKind.set(kind, (byKind.get(kind) ?? 0) + us);
    if (kind !== 'JavaScript') continue;
    const site = `${name} ${f.url.split('/').pop() ?? ''}:${f.lineNumber + 1}`;
    bySite.set(site, (bySite.get(site) ?? 0) + us);
  }
  const perApdu = (us: number): string => (us / Math.max(1, apdus)).toFixed(1);
  const lines = [
    `  page main thread per guest APDU (CPU profile, 50 µs samples): ${[...byKind]
      .filter(([k]) => k !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${perApdu(v)} µs`)
      .join(', ')}`,
  ];
  for (const [site, us] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 20))
    lines.push(`    ${perApdu(us).padStart(6)} µs  ${site}`);
  return lines;
}
