/**
 * Guest APDU round trip with the direct-TCP card (the baseline for issue 5's benchmark),
 * measured inside the guest by pcscd, and the time from QEMU start to the first guest APDU.
 *
 *   pnpm --filter @cardlend/guest-image bench [-- --count 500] [--qemu10]
 */
import { ensureQemu10 } from '@cardlend/qemu-testbed';
import { benchResult } from '../src/bench-result.ts';
import { freePort, startGuest } from '../src/boot-guest.ts';
import { buildGuest } from '../src/build-guest.ts';
import { startDirectCard } from '../src/direct-card.ts';
import { createTestCard } from '../src/test-card.ts';

const argv = process.argv.slice(2);
const countAt = argv.indexOf('--count');
const count = countAt >= 0 ? Number(argv[countAt + 1]) : 500;
const useQemu10 = argv.includes('--qemu10');
const out = (line: string): boolean => process.stdout.write(`${line}\n`);

const buildStart = performance.now();
const image = await buildGuest();
out(
  `guest image: ${image.isCacheHit ? 'cached' : 'built'} in ${(performance.now() - buildStart).toFixed(0)} ms`,
);

const qemu = useQemu10 ? await ensureQemu10() : undefined;
const port = await freePort();
const guest = startGuest({
  image,
  scenario: 'bench',
  args: { count, apdu: '80300000' },
  vscardPort: port,
  ...(qemu ? { qemuBinary: qemu.binary, qemuEnv: qemu.env, qemuArgsExtra: qemu.args } : {}),
});
const card = await startDirectCard({ port, card: createTestCard() });
try {
  const run = await guest.result;
  const bench = benchResult(run);
  const at = (what: string): string =>
    run.timeline.find((t) => t.what === what)?.atMs.toFixed(0) ?? '?';
  const hostCardUs = card.exchanges.map((e) => e.cardMs * 1000).sort((a, b) => a - b);
  out(`QEMU: ${qemu ? qemu.binary : '/usr/bin/qemu-system-x86_64 (7.2)'}; direct-TCP card`);
  const clock = run.markers.find((m) => m.kind === 'BOOT')?.fields['clocksource'] ?? '?';
  out(
    `guest APDU round trip (inside the guest, pcscd, clocksource ${clock}), ${bench.count} × 80 30 00 00:`,
  );
  out(
    `  p50 ${bench.p50Us} µs   p99 ${bench.p99Us} µs   min ${bench.minUs} µs   max ${bench.maxUs} µs`,
  );
  out(
    `  host card time per APDU p50 ${(hostCardUs[Math.floor(hostCardUs.length / 2)] ?? 0).toFixed(0)} µs`,
  );
  const firstApdu =
    card.firstApduAtMs === null ? '?' : (card.firstApduAtMs - guest.startedAtMs).toFixed(0);
  out(`QEMU start → first guest APDU: ${firstApdu} ms`);
  out(
    `  /init ${at('BOOT')} ms, reader ${at('STAGE:reader')} ms, pcscd ${at('STAGE:pcscd')} ms, card ${at('STAGE:card')} ms, done ${at('DONE')} ms`,
  );
  out(
    JSON.stringify({
      kind: 'guest-bench',
      client: 'direct',
      qemu: qemu ? '10' : '7.2',
      ...bench,
      firstApduMs: Number(firstApdu),
    }),
  );
} finally {
  card.destroy();
  await guest.kill();
}
