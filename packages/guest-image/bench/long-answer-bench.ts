/**
 * Issue 11 §3: WAN round trips and wall time of the guest's PIV certificate read and of
 * `pkcs11-tool --sign` with the PIV demo card, with a 40 ms round trip between page and relay,
 * for an older page (it splits long answers and serves GET RESPONSE itself: each GET RESPONSE
 * crosses the WAN) and a page offering the long-answers subprotocol (the relay splits next to
 * QEMU, if it selects it).
 *
 *   npx tsx packages/guest-image/bench/long-answer-bench.ts [--qemu10] [--rtt-ms 40]
 *
 * Runs itself in a private network namespace (`unshare -n`, root). The WAN is a delaying TCP
 * proxy between page and relay (see startWan: this kernel has no netem), so the relay ⇄ QEMU
 * hop stays local. The page is a Node stand-in
 * (src/page-client.ts) running the page's VSCard session. Numbers are printed, not asserted.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPivDemoCard } from '@cardlend/card-sim';
import { defaultConfig, startRelayServer } from '@cardlend/relay';
import { ensureQemu10 } from '@cardlend/qemu-testbed';
import { RELAY_PATH } from '@cardlend/vscard';
import { freePort, startGuest, type GuestRunResult } from '../src/boot-guest.ts';
import { buildGuest } from '../src/build-guest.ts';
import { parseMarkerLine } from '../src/markers.ts';
import { startPageClient } from '../src/page-client.ts';
import { argv, option, out, runInOwnNetns } from './bench-script.ts';

const NETNS_ENV = 'CARDLEND_LONG_ANSWER_BENCH_NETNS';
runInOwnNetns(NETNS_ENV);

const rttMs = Number(option('--rtt-ms') ?? 40);
const useQemu10 = argv.includes('--qemu10');

/**
 * The WAN: a TCP proxy in front of the relay that holds every chunk rtt/2 in each direction
 * (order kept). The test machine's kernel has neither `sch_netem` nor `sch_prio`, so `tc netem`
 * cannot be used here; a chunk-level delay gives the same round-trip cost per exchange.
 */
function startWan(relayPort: number): Promise<Server> {
  const pipe = (from: Socket, to: Socket): void => {
    const queue: { atMs: number; chunk: Buffer }[] = [];
    const flush = (): void => {
      const now = performance.now();
      while (queue.length > 0 && (queue[0]?.atMs ?? 0) <= now) to.write(queue.shift()?.chunk ?? '');
      const next = queue[0];
      if (next) setTimeout(flush, Math.max(0, next.atMs - now));
    };
    from.on('data', (chunk: Buffer) => {
      queue.push({ atMs: performance.now() + rttMs / 2, chunk });
      if (queue.length === 1) setTimeout(flush, rttMs / 2);
    });
    from.on('close', () => setTimeout(() => to.destroy(), rttMs / 2));
    from.on('error', () => undefined);
  };
  const server = createServer((page) => {
    page.setNoDelay(true);
    const relay = connect(relayPort, '127.0.0.1');
    relay.setNoDelay(true);
    pipe(page, relay);
    pipe(relay, page);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** PIV: SELECT the application, then GET DATA of the PIV Authentication certificate (Le 00). */
const CERT_READ = ['00A4040009A0000003080000100000', '00CB3FFF055C035FC10500'].join(',');

interface Phase {
  scenario: string;
  wallMs: number;
  wanRoundTrips: number;
}

async function runCase(isNewPage: boolean, qemu10?: Awaited<ReturnType<typeof ensureQemu10>>) {
  const [image, piv] = await Promise.all([buildGuest(), createPivDemoCard({ protocols: [1] })]);
  const vscardPort = await freePort();
  const relay = await startRelayServer({
    config: {
      ...defaultConfig(),
      listen: { host: '127.0.0.1', port: 0 },
      targets: { default: { host: '127.0.0.1', port: vscardPort } },
      staticDir: mkdtempSync(path.join(os.tmpdir(), 'cardlend-bench-static-')),
    },
  });
  const wan = await startWan(relay.address.port);
  const wanAddress = wan.address();
  const wanPort = typeof wanAddress === 'object' && wanAddress ? wanAddress.port : 0;
  let page: Awaited<ReturnType<typeof startPageClient>> | undefined;
  const counts = new Map<string, number>();
  const guest = startGuest({
    image,
    vscardPort,
    scenario: ['apdu', 'pkcs11-sign'],
    args: { apdus: CERT_READ, data: 'cardlend-bench', pin: '123456' },
    timeoutMs: 240_000,
    onLine: (line) => {
      const m = parseMarkerLine(line);
      const name = m?.fields['name'];
      const key = name === 'run' ? m?.fields['scenario'] : name;
      if (m && key !== undefined) counts.set(`${m.kind}:${key}`, page?.commandsReceived ?? 0);
      if (m?.kind === 'RESULT' && name === 'apdu') {
        const bytes = (m.fields['data'] ?? '').length / 2;
        out(`    guest: APDU ${m.fields['i']} sw ${m.fields['sw']}, ${bytes} data bytes`);
      }
    },
    ...(qemu10
      ? { qemuBinary: qemu10.binary, qemuEnv: qemu10.env, qemuArgsExtra: qemu10.args }
      : {}),
  });
  try {
    await guest.waitForMarker((m) => m.kind === 'BOOT', 120_000);
    page = await startPageClient({
      url: `ws://127.0.0.1:${wanPort}${RELAY_PATH}`,
      card: piv,
      isOfferingLongAnswers: isNewPage,
    });
    const run = await guest.result;
    const phases = [
      phase(run, 'apdu', 'RESULT:apdu-done', counts),
      phase(run, 'pkcs11-sign', 'RESULT:pkcs11-sign', counts),
    ];
    return { protocol: page.protocol, servedByPage: page.getResponsesServedHere, phases };
  } finally {
    await page?.stop().catch(() => undefined);
    await guest.kill();
    wan.close();
    await relay.close();
  }
}

function phase(
  run: GuestRunResult,
  scenario: string,
  endWhat: string,
  counts: ReadonlyMap<string, number>,
): Phase {
  const runAt = run.timeline.find(
    (t) => t.what === 'STAGE:run' && t.marker?.fields['scenario'] === scenario,
  );
  const end = run.timeline.find((t) => t.what === endWhat);
  const ok = run.results.find((r) => r.fields['name'] === endWhat.slice('RESULT:'.length));
  if (!runAt || !end || ok?.fields['ok'] === '0')
    throw new Error(
      `${scenario} did not complete: ${JSON.stringify(run.results.at(-1)?.fields).slice(0, 300)} ${Buffer.from(
        run.results.at(-1)?.fields['out'] ?? '',
        'hex',
      )
        .toString()
        .slice(0, 600)}`,
    );
  // The first scenario waits for the card after its STAGE run: start at the later of the two.
  const cardAt = run.timeline.find((t) => t.what === 'STAGE:card')?.atMs ?? 0;
  const startMs = Math.max(runAt.atMs, cardAt < end.atMs ? cardAt : 0);
  const n = (key: string): number => counts.get(key) ?? 0;
  return {
    scenario,
    wallMs: Math.round(end.atMs - startMs),
    wanRoundTrips: n(endWhat) - n(`STAGE:${scenario}`),
  };
}

const qemu10 = useQemu10 ? await ensureQemu10() : undefined;
out(
  `QEMU ${qemu10 ? '10.0' : '7.2'}; page ⇄ relay round trip ${rttMs} ms (delaying proxy); PIV demo card`,
);
for (const isNewPage of [false, true]) {
  const r = await runCase(isNewPage, qemu10);
  const who = isNewPage ? 'new page (offers long answers)' : 'older page (splits itself)';
  out(`${who}: relay selected ${r.protocol}; GET RESPONSEs served by the page: ${r.servedByPage}`);
  for (const p of r.phases) {
    const name =
      p.scenario === 'apdu'
        ? 'certificate read (SELECT + GET DATA 5FC105)'
        : 'pkcs11-tool --sign ×2 + cert read';
    out(
      `  ${name.padEnd(44)} ${String(p.wanRoundTrips).padStart(3)} WAN round trips  ${String(p.wallMs).padStart(6)} ms`,
    );
  }
  out(
    JSON.stringify({
      kind: 'long-answer-bench',
      qemu: qemu10 ? '10.0' : '7.2',
      rttMs,
      newPage: isNewPage,
      ...r,
    }),
  );
}
