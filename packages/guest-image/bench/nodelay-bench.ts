/**
 * Issue 11 §4: the per-APDU cost of a VSCard chardev without `nodelay=on`, and the remedies,
 * with real QEMU and a real guest (pcscd measures each SCardTransmit inside the guest).
 *
 *   npx tsx packages/guest-image/bench/nodelay-bench.ts [--count 60] [--qemu10] [--case name,...]
 *
 * Runs itself in a private network namespace (`unshare -n`, needs root): the route change of the
 * quickack case touches only that namespace's loopback. Between QEMU and the direct card sits a
 * small TCP proxy standing for the relay (it sets TCP_NODELAY on both sides, as the relay does)
 * and feeds QEMU's chunks to the NagleDetector, so each case also prints what the relay would
 * report. Numbers are printed; nothing is asserted.
 *
 * Cases (each a fresh QEMU + guest):
 *   nodelay      the chardev has nodelay=on (the reference)
 *   plain        no nodelay=on (what libvirt's <smartcard mode='passthrough' type='tcp'> gives)
 *   set-nodelay  no nodelay=on, plus `-set chardev.vscard.nodelay=on` (libvirt <qemu:commandline>)
 *   quickack     no nodelay=on; the relay host's route to QEMU has `quickack 1`
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { ensureQemu10, setLoopbackQuickAck } from '@cardlend/qemu-testbed';
import { describeNagleReport, NagleDetector, type NagleReport } from '@cardlend/vscard';
import { benchResult, type GuestBenchResult } from '../src/bench-result.ts';
import { freePort, startGuest } from '../src/boot-guest.ts';
import { buildGuest } from '../src/build-guest.ts';
import { startDirectCard } from '../src/direct-card.ts';
import { createTestCard } from '../src/test-card.ts';
import { argv, option, out, runInOwnNetns } from './bench-script.ts';

const NETNS_ENV = 'CARDLEND_NODELAY_BENCH_NETNS';
const CASES = ['nodelay', 'plain', 'set-nodelay', 'quickack'] as const;
type CaseName = (typeof CASES)[number];

runInOwnNetns(NETNS_ENV);

const count = Number(option('--count') ?? 60);
const useQemu10 = argv.includes('--qemu10');
const cases = (option('--case')?.split(',') ?? [...CASES]) as CaseName[];

/** Connects to QEMU, retrying while it is still starting (up to 20 s). */
async function connectVm(port: number): Promise<Socket> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const s = connect(port, '127.0.0.1', () => resolve(s));
        s.once('error', reject);
      });
    } catch (e) {
      if (attempt >= 200) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The relay's place: QEMU ⇄ proxy ⇄ card, QEMU's chunks fed to the detector. */
function startProxy(qemuPort: number, detector: NagleDetector): Promise<Server> {
  const server = createServer((card: Socket) => {
    card.setNoDelay(true);
    card.pause();
    void connectVm(qemuPort).then((vm) => {
      vm.setNoDelay(true);
      vm.on('data', (chunk: Buffer) => {
        detector.push(chunk, performance.now());
        card.write(chunk);
      });
      card.on('data', (chunk: Buffer) => vm.write(chunk));
      card.resume();
      const end = (): void => {
        card.destroy();
        vm.destroy();
      };
      vm.on('close', end).on('error', end);
      card.on('close', end).on('error', end);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

interface CaseResult {
  bench: GuestBenchResult;
  nagle: NagleReport;
}

async function runCase(name: CaseName, qemu10?: Awaited<ReturnType<typeof ensureQemu10>>) {
  const image = await buildGuest();
  const port = await freePort();
  const extra = [...(qemu10?.args ?? [])];
  if (name === 'set-nodelay') extra.push('-set', 'chardev.vscard.nodelay=on');
  setLoopbackQuickAck(name === 'quickack');
  const guest = startGuest({
    image,
    scenario: 'bench',
    args: { count, apdu: '80300000' },
    vscardPort: port,
    vscardNodelay: name === 'nodelay',
    qemuArgsExtra: extra,
    ...(qemu10 ? { qemuBinary: qemu10.binary, qemuEnv: qemu10.env } : {}),
  });
  const detector = new NagleDetector();
  const proxy = await startProxy(port, detector);
  const address = proxy.address();
  const proxyPort = typeof address === 'object' && address ? address.port : 0;
  const card = await startDirectCard({ port: proxyPort, card: createTestCard() });
  try {
    const run = await guest.result;
    return { bench: benchResult(run), nagle: detector.report() } satisfies CaseResult;
  } finally {
    card.destroy();
    proxy.close();
    await guest.kill();
    setLoopbackQuickAck(false);
  }
}

const qemu10 = useQemu10 ? await ensureQemu10() : undefined;
out(
  `QEMU ${qemu10 ? '10.0' : '7.2'}; ${count} × guest APDU 80 30 00 00 per case; private network namespace`,
);
for (const name of cases) {
  if (!CASES.includes(name)) throw new RangeError(`unknown case ${name}; cases: ${CASES.join()}`);
  const { bench, nagle } = await runCase(name, qemu10);
  const ms = (us: number): string => (us / 1000).toFixed(2).padStart(7);
  out(
    `${name.padEnd(12)} p50 ${ms(bench.p50Us)} ms  p99 ${ms(bench.p99Us)} ms  min ${ms(bench.minUs)} ms` +
      `   detector: ${nagle.suspected ? 'SUSPECTED' : 'quiet'} (${nagle.stalls}/${nagle.messages} stalled, typical ${nagle.typicalStallMs} ms)`,
  );
  if (nagle.suspected) out(`             relay would say: ${describeNagleReport(nagle)}`);
  out(
    JSON.stringify({
      kind: 'nodelay-bench',
      qemu: qemu10 ? '10.0' : '7.2',
      case: name,
      ...bench,
      nagle,
    }),
  );
}
