/**
 * Issue 5's benchmark: the guest's APDU round trip through the whole chain
 * (guest → QEMU → relay → Chromium page → CCID driver → simulated reader → PIV demo card and
 * back) next to the same guest program with the direct-TCP VSCard card on the host, in the
 * same run, plus the time from QEMU start to the first guest APDU. Prints numbers only.
 *
 *   pnpm --filter @cardlend/guest-image bench:chain [-- --count 300] [--qemu10]
 *
 * Needs `apps/web/dist` (pnpm --filter @cardlend/web build) and Debian's Chromium.
 * Both runs use the same card model with the same ATR as the guest sees it: card-sim's PIV
 * demo card, T=1 only like the page's, presented with the T=0 compatibility ATR.
 */
import { spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createPivDemoCard } from '@cardlend/card-sim';
import { ensureQemu10 } from '@cardlend/qemu-testbed';
import { toQemuT0CompatibleAtr } from '@cardlend/vscard';
import { benchResult, type GuestBenchResult } from '../src/bench-result.ts';
import { freePort, startGuest, type BootGuestOptions } from '../src/boot-guest.ts';
import { buildGuest } from '../src/build-guest.ts';
import { startDirectCard } from '../src/direct-card.ts';
import { launchChromium } from './cdp.ts';

const argv = process.argv.slice(2);
const countAt = argv.indexOf('--count');
const count = countAt >= 0 ? Number(argv[countAt + 1]) : 300;
const useQemu10 = argv.includes('--qemu10');
const out = (line: string): boolean => process.stdout.write(`${line}\n`);

/** SELECT of the PIV application (SP 800-73-4 Part 2 §3.1.1) with Le: a short answer. */
const APDU = '00A4040009A0000003080000100000';
/** VSCard message type of an APDU (vscard-protocol.md §2). */
const VSC_APDU = 7;

/**
 * Page script: times each guest APDU inside the page, from the WebSocket message event to the
 * answer's send() (bridge + CCID driver + simulated reader + card), with performance.now(),
 * and notes when the first one arrived (epoch ms, for QEMU start → first APDU).
 * The message listener is added in the constructor, before the bridge's own handler.
 */
const PAGE_TIMING_SCRIPT = `(() => {
  const samples = [];
  let inAt = 0;
  globalThis.__cardlendFirstApduEpochMs = null;
  const isApdu = (d) => {
    const v = d instanceof ArrayBuffer ? new DataView(d)
      : ArrayBuffer.isView(d) ? new DataView(d.buffer, d.byteOffset, d.byteLength) : null;
    return v !== null && v.byteLength >= 12 && v.getUint32(0) === ${VSC_APDU};
  };
  globalThis.__cardlendPageSamples = samples;
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (inAt !== 0 && isApdu(data)) { samples.push(performance.now() - inAt); inAt = 0; }
    return send.call(this, data);
  };
  const Base = WebSocket;
  globalThis.WebSocket = class extends Base {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => {
        if (!isApdu(e.data)) return;
        inAt = performance.now();
        globalThis.__cardlendFirstApduEpochMs ??= performance.timeOrigin + inAt;
      });
    }
  };
})();`;

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const tsxLoader = pathToFileURL(
  realpathSync(path.join(repoRoot, 'apps/relay/node_modules/tsx/dist/loader.mjs')),
).href;

/** Starts the relay CLI (one node process, tsx loader) and resolves with a stopper once it is ready. */
async function startRelay(port: number, targetPort: number): Promise<() => Promise<void>> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      tsxLoader,
      'apps/relay/src/main.ts',
      '--listen',
      `127.0.0.1:${port}`,
      '--target',
      `127.0.0.1:${targetPort}`,
    ],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const isReady = await new Promise<boolean>((resolve) => {
    const onData = (c: Buffer): void => {
      output += c.toString('utf8');
      if (output.includes('Open in Chrome:')) resolve(true);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(() => resolve(false));
    setTimeout(() => resolve(false), 60_000).unref();
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 12_000);
    await exited;
    clearTimeout(t);
  };
  if (!isReady) {
    await stop();
    throw new Error(`relay did not start:\n${output}`);
  }
  return stop;
}

const buildStart = performance.now();
const image = await buildGuest();
out(
  `guest image: ${image.isCacheHit ? 'cached' : 'built'} in ${(performance.now() - buildStart).toFixed(0)} ms`,
);
const qemu = useQemu10 ? await ensureQemu10() : undefined;
const qemuOpts: Partial<BootGuestOptions> = qemu
  ? { qemuBinary: qemu.binary, qemuEnv: qemu.env, qemuArgsExtra: qemu.args }
  : {};

interface RunNumbers {
  bench: GuestBenchResult;
  /** Chain only: in the page, WebSocket message → answer send(), p50/p99, ms. */
  pageP50Ms?: number | null;
  pageP99Ms?: number | null;
  firstApduMs: number | null;
  clocksource: string;
}

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
    };
  } finally {
    direct.destroy();
    await guest.kill();
  }
}

/**
 * Relay + Chromium page lending its virtual card (the chain). Chromium is driven over raw
 * DevTools with only Page and Runtime (bench/cdp.ts: why not Playwright here).
 */
async function runChain(): Promise<RunNumbers> {
  const vscardPort = await freePort();
  const relayPort = await freePort();
  const stopRelay = await startRelay(relayPort, vscardPort);
  const browser = await launchChromium();
  const { page } = browser;
  const button = `[...document.querySelectorAll('button')].find((b) => b.textContent.includes('Try a virtual card'))`;
  try {
    // Plain JS text: tsx would add esbuild helpers (__name) to a serialised function.
    await page.call('Page.enable');
    await page.call('Page.addScriptToEvaluateOnNewDocument', { source: PAGE_TIMING_SCRIPT });
    await page.call('Page.navigate', { url: `http://127.0.0.1:${relayPort}/` });
    const readyBy = Date.now() + 30_000;
    while ((await page.evaluate(`!!${button}`)) !== true) {
      if (Date.now() > readyBy) throw new Error('the page did not show "Try a virtual card"');
      await new Promise((r) => setTimeout(r, 50));
    }
    // Everything is ready before QEMU starts: the lend begins right after the spawn, as the
    // relay (QEMU chardev server=on,wait=off) may connect before the guest has booted.
    const guest = startGuest({
      image,
      scenario: 'bench',
      args: { count, apdu: APDU, cardwait: 120 },
      vscardPort,
      timeoutMs: 300_000,
      ...qemuOpts,
    });
    try {
      await page.evaluate(`${button}.click()`);
      const run = await guest.result;
      const pageMs = ((await page.evaluate('globalThis.__cardlendPageSamples')) as number[]).sort(
        (a, b) => a - b,
      );
      const firstApduEpochMs = (await page.evaluate('globalThis.__cardlendFirstApduEpochMs')) as
        number | null;
      return {
        pageP50Ms: pageMs[Math.floor(pageMs.length / 2)] ?? null,
        pageP99Ms: pageMs[Math.floor((pageMs.length * 99) / 100)] ?? null,
        bench: benchResult(run),
        firstApduMs:
          firstApduEpochMs === null
            ? null
            : firstApduEpochMs - (performance.timeOrigin + guest.startedAtMs),
        clocksource: run.markers.find((m) => m.kind === 'BOOT')?.fields['clocksource'] ?? '?',
      };
    } finally {
      await guest.kill();
    }
  } finally {
    await browser.close();
    await stopRelay();
  }
}

const direct = await runDirect();
const chain = await runChain();
const ms = (v: number | null): string => (v === null ? '?' : `${v.toFixed(0)} ms`);
const row = (label: string, r: RunNumbers): string =>
  `  ${label.padEnd(8)} p50 ${String(r.bench.p50Us).padStart(6)} µs   p99 ${String(r.bench.p99Us).padStart(6)} µs   min ${r.bench.minUs} µs   max ${r.bench.maxUs} µs   (n=${r.bench.count}, clocksource ${r.clocksource})`;
out(
  `QEMU: ${qemu ? `${qemu.binary} (10.0)` : '/usr/bin/qemu-system-x86_64 (7.2)'}; guest APDU: ${APDU} × ${count} (opensc-tool), timed inside the guest by pcscd`,
);
out(row('direct', direct));
out(row('chain', chain));
const addP50 = chain.bench.p50Us - direct.bench.p50Us;
const addP99 = chain.bench.p99Us - direct.bench.p99Us;
out(
  `  chain adds p50 ${addP50} µs (${(addP50 / 1000).toFixed(2)} ms; target < 0.5 ms)   p99 ${addP99} µs`,
);
out(
  `  of which in the page (WebSocket message → answer send(): bridge, driver, simulated reader, card) p50 ${chain.pageP50Ms?.toFixed(2) ?? '?'} ms   p99 ${chain.pageP99Ms?.toFixed(2) ?? '?'} ms`,
);
out(
  `QEMU start → first guest APDU: direct ${ms(direct.firstApduMs)}, chain ${ms(chain.firstApduMs)} (chain: seen by the page's WebSocket)`,
);
out(
  JSON.stringify({
    kind: 'chain-bench',
    qemu: qemu ? '10' : '7.2',
    count,
    direct: { ...direct.bench, firstApduMs: direct.firstApduMs },
    chain: { ...chain.bench, firstApduMs: chain.firstApduMs },
    addedP50Us: addP50,
    addedP99Us: addP99,
  }),
);
