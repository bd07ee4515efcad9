/**
 * Issue 5's benchmark (issue 11 §3's loopback targets): the guest's APDU round trip through the
 * whole chain (guest → QEMU → relay → Chromium page → CCID driver → simulated reader → PIV demo
 * card and back) next to the same guest program with the direct-TCP VSCard card on the host,
 * plus the time from QEMU start to the first guest APDU. Prints numbers only.
 *
 *   pnpm --filter @cardlend/guest-image bench:chain [-- --count 3000] [--runs 3] [--qemu10]
 *     [--probe] [--trace FILE] [--alloc] [--cpu] [--screenshot PNG] [--static DIR] [--background] [--page product|main|worker|echo] [--chain-only]
 *     [--shadow]
 *
 * --probe    times each hop (relay probe + page times, hop-analysis.ts) and the relay's GC pauses
 * --trace    records a Chromium trace of the chain run (renderer main thread: tasks, GC, layout)
 *            and prints the page's long tasks (chain-trace.ts); the trace costs time itself
 * --alloc    samples where the page allocates during the run (bridge/bench/alloc-profile.ts)
 * --cpu      profiles the page's main thread: its time per guest APDU by function (chain-cpu.ts)
 * --page     product (default): the page's "Try a virtual card"; main / worker: the same bridge,
 *            driver and simulated reader bundled by the bench, on the page's main thread or in
 *            a dedicated worker, with a stand-in of the page's live log (worker-experiment.ts);
 *            echo: the floor of any page, answering each command with prepared bytes from the
 *            WebSocket message handler, no reader or card (echo-entry.ts)
 *
 * --shadow   after each answer, a second lender held in memory in the page (same bridge, driver,
 *            simulated reader and card; no WebSocket) runs the same command twice: first as cold
 *            as the page's own path, then again at once, hot (shadow-page.ts)
 *
 * --background  once lending has started, another tab is opened in front (the page is hidden)
 * --static   the built page the relay serves (default apps/web/dist; e.g. a build of this checkout
 *            made with `vite build --outDir DIR`, so the numbers are of the code at hand)
 *
 * Development hooks (environment): CARDLEND_BENCH_EXTRA_SCRIPT (JS added to the page before its
 * own, e.g. a style that hides the live log) or CARDLEND_BENCH_EXTRA_SCRIPT_FILE (the same, from
 * a file: a bundle is too long for the environment), CARDLEND_BENCH_RELAY_FLAGS (Node flags for the
 * relay, e.g. `--trace-gc`), CARDLEND_BENCH_RELAY_LOG (file receiving the relay's output).
 *
 * Needs `apps/web/dist` (pnpm --filter @cardlend/web build) and Debian's Chromium. Both runs use
 * the same card model with the same ATR as the guest sees it: card-sim's PIV demo card, T=1 only
 * like the page's, presented with the T=0 compatibility ATR. Each run takes a fresh QEMU.
 */
import { readFileSync } from 'node:fs';
import { createPivDemoCard } from '@cardlend/card-sim';
import { ensureQemu10 } from '@cardlend/qemu-testbed';
import { toQemuT0CompatibleAtr } from '@cardlend/vscard';
import { benchResult } from '../src/bench-result.ts';
import { freePort, startGuest, type BootGuestOptions } from '../src/boot-guest.ts';
import { buildGuest } from '../src/build-guest.ts';
import { startDirectCard } from '../src/direct-card.ts';
import { runChain, type ChainOptions, type PageMode, type RunNumbers } from './chain-run.ts';

const argv = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
};
const count = Number(option('--count') ?? 300);
const runs = Number(option('--runs') ?? 1);
const useQemu10 = argv.includes('--qemu10');
const isChainOnly = argv.includes('--chain-only');
const pageMode = (option('--page') ?? 'product') as PageMode;
if (!['product', 'main', 'worker', 'echo'].includes(pageMode))
  throw new Error('--page product|main|worker|echo');
const out = (line: string): boolean => process.stdout.write(`${line}\n`);

/** SELECT of the PIV application (SP 800-73-4 Part 2 §3.1.1) with Le: a short answer. */
const APDU = '00A4040009A0000003080000100000';

const buildStart = performance.now();
const image = await buildGuest();
out(
  `guest image: ${image.isCacheHit ? 'cached' : 'built'} in ${(performance.now() - buildStart).toFixed(0)} ms`,
);
const qemu = useQemu10 ? await ensureQemu10() : undefined;
const qemuOpts: Partial<BootGuestOptions> = qemu
  ? { qemuBinary: qemu.binary, qemuEnv: qemu.env, qemuArgsExtra: qemu.args }
  : {};
const bootOpts = { image, count, apdu: APDU, qemuOpts };

/** Direct-TCP VSCard card on the host (the baseline). */
async function runDirect(): Promise<RunNumbers> {
  const piv = await createPivDemoCard({ protocols: [1] });
  const card = { atr: toQemuT0CompatibleAtr(piv.atr), process: (a: Uint8Array) => piv.process(a) };
  const port = await freePort();
  const guest = startGuest({
    image,
    scenario: 'bench',
    args: { count, apdu: APDU },
    vscardPort: port,
    timeoutMs: 300_000,
    ...qemuOpts,
  });
  const direct = await startDirectCard({ port, card, connectTimeoutMs: 30_000 });
  try {
    const run = await guest.result;
    return {
      bench: benchResult(run),
      firstApduMs: direct.firstApduAtMs === null ? null : direct.firstApduAtMs - guest.startedAtMs,
      clocksource: run.markers.find((m) => m.kind === 'BOOT')?.fields['clocksource'] ?? '?',
      lines: [],
    };
  } finally {
    direct.destroy();
    await guest.kill();
  }
}

const ms = (v: number | null): string => (v === null ? '?' : `${v.toFixed(0)} ms`);
const row = (label: string, r: RunNumbers): string =>
  `  ${label.padEnd(8)} p50 ${String(r.bench.p50Us).padStart(6)} µs   p99 ${String(r.bench.p99Us).padStart(6)} µs   min ${r.bench.minUs} µs   max ${r.bench.maxUs} µs   (n=${r.bench.count}, clocksource ${r.clocksource})`;

out(
  `QEMU: ${qemu ? `${qemu.binary} (10.0)` : '/usr/bin/qemu-system-x86_64 (7.2)'}; guest APDU: ${APDU} × ${count} (opensc-tool), timed inside the guest by pcscd; page: ${pageMode}`,
);
const chainOpts: ChainOptions = {
  ...bootOpts,
  page: pageMode,
  isProbing: argv.includes('--probe'),
  traceFile: option('--trace'),
  isProfilingAllocations: argv.includes('--alloc'),
  isProfilingCpu: argv.includes('--cpu'),
  screenshotFile: option('--screenshot'),
  staticDir: option('--static'),
  isBackground: argv.includes('--background'),
  isShadow: argv.includes('--shadow'),
};
const summary: Record<string, unknown>[] = [];
for (let r = 1; r <= runs; r++) {
  const direct = isChainOnly ? null : await runDirect();
  const chain = await runChain(chainOpts);
  out(`run ${r}/${runs} (${new Date().toISOString()}, load ${loadAverage()}):`);
  if (direct) out(row('direct', direct));
  out(row('chain', chain));
  const addP50 = direct ? chain.bench.p50Us - direct.bench.p50Us : null;
  const addP99 = direct ? chain.bench.p99Us - direct.bench.p99Us : null;
  if (addP50 !== null && addP99 !== null)
    out(`  chain adds p50 ${addP50} µs (target < 300 µs)   p99 ${addP99} µs (target < 2000 µs)`);
  out(
    `  in the page (WebSocket message → answer send(): bridge, driver, simulated reader, card) p50 ${chain.pageP50Ms?.toFixed(2) ?? '?'} ms   p99 ${chain.pageP99Ms?.toFixed(2) ?? '?'} ms   mean ${chain.pageMeanMs?.toFixed(3) ?? '?'} ms`,
  );
  for (const line of chain.lines) out(line);
  out(
    `  QEMU start → first guest APDU: direct ${direct ? ms(direct.firstApduMs) : '-'}, chain ${ms(chain.firstApduMs)} (chain: seen by the page's WebSocket)`,
  );
  summary.push({
    run: r,
    direct: direct?.bench,
    chain: chain.bench,
    addedP50Us: addP50,
    addedP99Us: addP99,
    pageP50Ms: chain.pageP50Ms,
    pageMeanMs: chain.pageMeanMs,
    pageP99Ms: chain.pageP99Ms,
    browserMs: chain.browserMs,
  });
}
const added = summary.map((s) => s['addedP50Us']).filter((v): v is number => typeof v === 'number');
if (added.length > 1) {
  const sorted = [...added].sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)] ?? NaN;
  out(
    `chain adds p50 over ${added.length} runs: ${added.join(', ')} µs (median ${median}; ${added.filter((v) => v < 300).length} of ${added.length} under the 300 µs target)`,
  );
}
out(
  JSON.stringify({
    kind: 'chain-bench',
    qemu: qemu ? '10' : '7.2',
    count,
    page: pageMode,
    runs: summary,
  }),
);

function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}
