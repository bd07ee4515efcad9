/**
 * One chain run of the bench: the relay (chain-relay.ts), Chromium with the page (driven over
 * raw DevTools with only Page and Runtime, plus Tracing when asked: bench/cdp.ts says why not
 * Playwright), a fresh QEMU guest running the `bench` scenario, and the numbers of that run.
 */
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { benchResult, type GuestBenchResult } from '../src/bench-result.ts';
import { freePort, startGuest, type BootGuestOptions } from '../src/boot-guest.ts';
import type { GuestImage } from '../src/build-guest.ts';
import { launchChromium, type CdpPage } from './cdp.ts';
import {
  startAllocationSampling,
  stopAllocationSampling,
} from '../../bridge/bench/alloc-profile.ts';
import { startCpuProfile, stopCpuProfile } from './chain-cpu.ts';
import { PAGE_TIMING_SCRIPT, TRY_BUTTON, VISIBILITY } from './chain-page.ts';
import { startRelay } from './chain-relay.ts';
import { describeTasks, startTrace, stopTrace } from './chain-trace.ts';
import type { ProbeLog } from './hop-kinds.ts';
import { describeHops, pairHops, quantile, type Hops, type PageSample } from './hop-analysis.ts';
import { startEchoPage } from './echo-page.ts';
import { describeShadow, shadowScript } from './shadow-page.ts';
import { startExperimentPage } from './worker-experiment.ts';

/** Who serves the guest's APDUs in the browser (see chain-bench.ts). */
export type PageMode = 'product' | 'main' | 'worker' | 'echo';

export interface ChainOptions {
  image: GuestImage;
  count: number;
  apdu: string;
  qemuOpts: Partial<BootGuestOptions>;
  page: PageMode;
  isProbing: boolean;
  traceFile: string | undefined;
  /** Sample the page's allocations (bridge/bench/alloc-profile.ts). */
  isProfilingAllocations: boolean;
  /** Profile the page's main thread (chain-cpu.ts). */
  isProfilingCpu: boolean;
  /**
   * Once lending has started, open another tab in front: the page is then a background tab
   * (hidden: no rendering, timers throttled), as when the user switched to another tab.
   */
  isBackground: boolean;
  /** Runs the shadow lender after each answer (shadow-page.ts). */
  isShadow: boolean;
  /** The built page the relay serves (default apps/web/dist). */
  staticDir: string | undefined;
  /** A PNG of the page 3 s after the first guest APDU: what the user would see. */
  screenshotFile: string | undefined;
}

export interface RunNumbers {
  bench: GuestBenchResult;
  /** Chain only: in the page, WebSocket message → answer send(), p50/p99, ms. */
  pageP50Ms?: number | null;
  /**
   * The mean of the same, ms. Chromium coarsens a page's clock to 100 µs with a random
   * threshold per step, so p50 reads 0.00 or 0.10; the mean of thousands is the page's real
   * share to a few µs.
   */
  pageMeanMs?: number | null;
  pageP99Ms?: number | null;
  /** With the probe: the browser's share (relay wrote → relay read the answer), p50/p99, ms. */
  browserMs?: { p50: number; p99: number };
  firstApduMs: number | null;
  clocksource: string;
  /** More to print (hops, trace). */
  lines: string[];
}

/** The page's share as a mean per window of `size` guest APDUs, in order (its warm-up). */
function windowMeans(pageMs: number[], size: number): string {
  const parts: string[] = [];
  for (let i = 0; i < pageMs.length; i += size) {
    const part = pageMs.slice(i, i + size);
    const mean = part.reduce((a, b) => a + b, 0) / part.length;
    parts.push(`${Math.round(mean * 1000)}`);
  }
  return `  in the page, mean by ${size} guest APDUs in order (µs): ${parts.join(' ')}`;
}

/** Opens the page and gets it ready to lend; resolves with the call that starts lending. */
async function preparePage(
  page: CdpPage,
  relayPort: number,
  mode: PageMode,
  apdu: string,
  isShadow: boolean,
): Promise<string> {
  await page.call('Page.enable');
  await page.call('Page.addScriptToEvaluateOnNewDocument', { source: PAGE_TIMING_SCRIPT });
  const extraFile = process.env['CARDLEND_BENCH_EXTRA_SCRIPT_FILE'];
  const extra =
    extraFile !== undefined
      ? readFileSync(extraFile, 'utf8')
      : process.env['CARDLEND_BENCH_EXTRA_SCRIPT'];
  if (extra) await page.call('Page.addScriptToEvaluateOnNewDocument', { source: extra });
  if (isShadow)
    await page.call('Page.addScriptToEvaluateOnNewDocument', { source: await shadowScript(apdu) });
  await page.call('Page.navigate', { url: `http://127.0.0.1:${relayPort}/` });
  const readyBy = Date.now() + 30_000;
  while ((await page.evaluate(`!!${TRY_BUTTON}`)) !== true) {
    if (Date.now() > readyBy) throw new Error('the page did not show "Try a virtual card"');
    await new Promise((r) => setTimeout(r, 50));
  }
  if (mode === 'product') return `${TRY_BUTTON}.click()`;
  if (mode === 'echo') return startEchoPage(page, relayPort, apdu);
  return startExperimentPage(page, relayPort, mode);
}

/** Takes the screenshot once APDUs flow; a line with the viewport and where the live log is. */
async function screenshot(page: CdpPage, file: string): Promise<string> {
  const by = Date.now() + 120_000;
  while ((await page.evaluate('globalThis.__cardlendFirstApduEpochMs ?? null')) === null) {
    if (Date.now() > by) return '  screenshot: no guest APDU within 120 s';
    await new Promise((r) => setTimeout(r, 200));
  }
  await new Promise((r) => setTimeout(r, 3000));
  const shot = (await page.call('Page.captureScreenshot')) as { data: string };
  writeFileSync(file, Buffer.from(shot.data, 'base64'));
  const where = await page.evaluate(
    `({ w: innerWidth, h: innerHeight, logTop: Math.round(document.querySelector('section.log')?.getBoundingClientRect().top ?? -1) })`,
  );
  return `  screenshot ${file}: ${JSON.stringify(where)}`;
}

/** Relay + Chromium page lending its virtual card (the chain). */
export async function runChain(o: ChainOptions): Promise<RunNumbers> {
  const vscardPort = await freePort();
  const relayPort = await freePort();
  const probeFile = o.isProbing
    ? path.join(tmpdir(), `cardlend-probe-${relayPort}.json`)
    : undefined;
  const relayFlags = process.env['CARDLEND_BENCH_RELAY_FLAGS']?.split(' ').filter(Boolean) ?? [];
  const relayLog = process.env['CARDLEND_BENCH_RELAY_LOG'];
  const stopRelay = await startRelay({
    port: relayPort,
    targetPort: vscardPort,
    probeFile,
    staticDir: o.staticDir,
    nodeFlags: relayFlags,
    ...(relayLog ? { onOutput: (t: string) => appendFileSync(relayLog, t) } : {}),
  });
  const browser = await launchChromium();
  const { page } = browser;
  const lines: string[] = [];
  let relayStopped = false;
  try {
    const startLending = await preparePage(page, relayPort, o.page, o.apdu, o.isShadow);
    const vis = (await page.evaluate(VISIBILITY)) as { visibility: string; hasFocus: boolean };
    lines.push(`  page: ${vis.visibility}, focus ${vis.hasFocus}`);
    if (o.traceFile !== undefined) await startTrace(page);
    if (o.isProfilingAllocations) await startAllocationSampling((m, p) => page.call(m, p));
    if (o.isProfilingCpu) await startCpuProfile(page);
    // Everything is ready before QEMU starts: the lend begins right after the spawn, as the
    // relay (QEMU chardev server=on,wait=off) may connect before the guest has booted.
    const guest = startGuest({
      image: o.image,
      scenario: 'bench',
      args: { count: o.count, apdu: o.apdu, cardwait: 120 },
      vscardPort,
      timeoutMs: 300_000,
      ...o.qemuOpts,
    });
    try {
      await page.evaluate(startLending);
      if (o.isBackground) {
        await page.call('Target.createTarget', { url: 'about:blank' });
        const hidden = (await page.evaluate(VISIBILITY)) as { visibility: string };
        lines.push(`  page sent to the background: ${hidden.visibility}`);
      }
      if (o.screenshotFile !== undefined) lines.push(await screenshot(page, o.screenshotFile));
      const run = await guest.result;
      const times = (await page.evaluate(
        `(globalThis.__cardlendWorkerTimes?.() ?? globalThis.__cardlendPageTimes())`,
      )) as { msgAt: number[]; sendAt: number[] };
      const samples: PageSample[] = times.msgAt.map((m, i) => ({
        msgAt: m,
        sendAt: times.sendAt[i] as number,
      }));
      const pageMs = samples.map((s) => s.sendAt - s.msgAt);
      const firstApduEpochMs = samples[0]?.msgAt ?? null;
      lines.push(windowMeans(pageMs, 500));
      if (o.isShadow) {
        const shadow = await page.evaluate('globalThis.__cardlendShadowTimes?.() ?? null');
        if (shadow !== null)
          lines.push(describeShadow(shadow as { first: number[]; again: number[] }, 1000));
      }
      let hops: Hops[] = [];
      if (o.isProfilingCpu) lines.push(...(await stopCpuProfile(page, samples.length)));
      if (o.isProfilingAllocations)
        lines.push(...(await stopAllocationSampling((m, p) => page.call(m, p), samples.length)));
      const tasks = o.traceFile === undefined ? null : await stopTrace(page, o.traceFile);
      if (probeFile !== undefined) {
        await stopRelay();
        relayStopped = true;
        const log = JSON.parse(readFileSync(probeFile, 'utf8')) as ProbeLog;
        rmSync(probeFile, { force: true });
        hops = pairHops(log, samples);
        lines.push(...describeHops(hops, log.gc));
      }
      if (tasks !== null) {
        const cut = quantile(
          hops.map((h) => h.total),
          0.99,
        );
        const slowest = hops
          .filter((h) => h.total >= cut)
          .map((h) => ({
            writtenAtMs: h.atMs + h.relayOut,
            handledAtMs: h.atMs + h.relayOut + h.toPage,
          }));
        lines.push(...describeTasks(tasks, slowest));
        writeFileSync(`${o.traceFile}.hops.json`, JSON.stringify(hops));
      }
      return {
        pageP50Ms: pageMs.length > 0 ? quantile(pageMs, 0.5) : null,
        pageMeanMs: pageMs.length > 0 ? pageMs.reduce((a, b) => a + b, 0) / pageMs.length : null,
        pageP99Ms: pageMs.length > 0 ? quantile(pageMs, 0.99) : null,
        ...(hops.length > 0
          ? {
              browserMs: {
                p50: quantile(
                  hops.map((h) => h.browser),
                  0.5,
                ),
                p99: quantile(
                  hops.map((h) => h.browser),
                  0.99,
                ),
              },
            }
          : {}),
        bench: benchResult(run),
        firstApduMs:
          firstApduEpochMs === null
            ? null
            : firstApduEpochMs - (performance.timeOrigin + guest.startedAtMs),
        clocksource: run.markers.find((m) => m.kind === 'BOOT')?.fields['clocksource'] ?? '?',
        lines,
      };
    } finally {
      await guest.kill();
    }
  } finally {
    await browser.close();
    if (!relayStopped) await stopRelay();
  }
}
