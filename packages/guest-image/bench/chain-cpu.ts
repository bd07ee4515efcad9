/**
 * Where the page's main thread spends its time while the guest's APDUs flow: V8's sampling CPU
 * profiler over the page's DevTools session (a sample every 50 µs), self time summed by
 * function and script position, per guest APDU. The page's clock is too coarse (100 µs) to time
 * its own share of one APDU; the profile says what that share is made of.
 */
import { largestFirst, selfTimeBy, type CpuProfile } from '../../bridge/bench/cpu-profile.ts';
import type { CdpPage } from './cdp.ts';

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
  const nameOf = (functionName: string): string => functionName || '(anonymous)';
  const byKind = selfTimeBy(profile, ({ functionName }) =>
    NOT_JS.has(nameOf(functionName)) ? nameOf(functionName) : 'JavaScript',
  );
  const bySite = selfTimeBy(profile, ({ functionName, url, lineNumber }) =>
    NOT_JS.has(nameOf(functionName))
      ? null
      : `${nameOf(functionName)} ${url.split('/').pop() ?? ''}:${lineNumber + 1}`,
  );
  const perApdu = (us: number): string => (us / Math.max(1, apdus)).toFixed(1);
  const lines = [
    `  page main thread per guest APDU (CPU profile, 50 µs samples): ${largestFirst(byKind)
      .filter(([k]) => k !== '(idle)')
      .map(([k, v]) => `${k} ${perApdu(v)} µs`)
      .join(', ')}`,
  ];
  for (const [site, us] of largestFirst(bySite).slice(0, 20))
    lines.push(`    ${perApdu(us).padStart(6)} µs  ${site}`);
  return lines;
}
