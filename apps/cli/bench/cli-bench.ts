/**
 * Per-APDU time through `cardlend lend` against the same card reached through pcscd directly
 * (issue 12, "Speed"). Prints numbers; not a test.
 *
 *   npx -y pnpm@12.4.2 --filter @cardlend/cli bench [-- --rounds 5 --count 300 --profile DIR]
 *
 * A test pcscd (vpcd in a private namespace, needs root) holds a simulated T=1 card. Each
 * round measures, one after the other (the reader is held exclusively while lent):
 *   direct — this process: @cardlend/pcsc transmit → pcscd → card;
 *   cli    — a VSCard-over-WebSocket VM in this process → `cardlend lend` (child process, the
 *            bundle) → pcscd → card → back; the relay's role is played by the same socket;
 *   bare   — the same through bench/bare-lender.ts, a lender with no bridge logic at all.
 * cli − direct is what lending through the CLI adds (one loopback WebSocket round trip plus
 * the CLI's work); cli − bare is the CLI's own code. p50s per round, then medians of rounds.
 * Every sample has the test reader's delayed-ACK wait taken out (timed-card.ts): vpcd sends
 * each APDU in two writes without TCP_NODELAY, which costs 0 or ~40 ms at random.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createT1Card } from '@cardlend/card-sim';
import { openReader } from '@cardlend/pcsc';
import { startPcscd, VPCD_PORTS, waitForCard } from '@cardlend/pcsc/testing';
import { TimedCard } from './timed-card.ts';
import { VmOverWebSocket } from './vm-ws.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    rounds: { type: 'string' },
    count: { type: 'string' },
    warmup: { type: 'string' },
    profile: { type: 'string' },
  },
});
const ROUNDS = Number(values.rounds ?? 5);
const COUNT = Number(values.count ?? 300);
const WARMUP = Number(values.warmup ?? 100);
/** `--profile DIR`: the CLI child writes a V8 CPU profile there. */
const PROFILE_DIR = values.profile;
/** ECHO (loopback applet INS 30) of 16 bytes, Le 16: 21 bytes out, 18 back. */
const APDU = Uint8Array.from([
  0x80,
  0x30,
  0,
  0,
  16,
  ...Array.from({ length: 16 }, (_, i) => i),
  16,
]);

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const median = (xs: number[]): number => pct(xs, 50);
const f = (us: number): string => `${(us / 1000).toFixed(3)} ms`;

let card: TimedCard | undefined;
/** Raw p50s (with vpcd's delayed-ACK waits), per path, for the record. */
const raw: Record<string, number[]> = { direct: [], cli: [], bare: [] };

/** Samples of `run` (µs), each without the card's delayed-ACK wait. */
async function measure(path: string, run: () => Promise<number>): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) await run();
  const out: number[] = [];
  const rawSamples: number[] = [];
  for (let i = 0; i < COUNT; i++) {
    const us = await run();
    rawSamples.push(us);
    out.push(us - (card?.lastWaitUs ?? 0));
  }
  raw[path]?.push(pct(rawSamples, 50));
  return out;
}

async function direct(name: string): Promise<number[]> {
  const reader = await openReader(name);
  try {
    await reader.powerOn();
    return await measure('direct', async () => {
      const t = process.hrtime.bigint();
      await reader.transmit(APDU);
      return Number(process.hrtime.bigint() - t) / 1000;
    });
  } finally {
    await reader.close();
  }
}

/** Lends through a child (`argv` gets the VM's URL appended) and measures at the VM. */
async function throughLender(path: string, argv: (url: string) => string[]): Promise<number[]> {
  const vm = await VmOverWebSocket.start();
  const lent = vm.cardLent();
  const prof =
    PROFILE_DIR !== undefined && path === 'cli'
      ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`]
      : [];
  const child = spawn(process.execPath, [...prof, ...argv(vm.url)], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await Promise.race([lent, exited.then(() => Promise.reject(new Error('lender exited')))]);
    return await measure(path, () => vm.exchange(APDU));
  } finally {
    child.kill('SIGTERM');
    await exited;
    await vm.close();
  }
}

const pcscd = await startPcscd();
try {
  card = await TimedCard.plug(pcscd.pid, VPCD_PORTS[0], createT1Card());
  const name = pcscd.readers[0];
  await waitForCard(name, 'present');
  const rows: { direct: number; cli: number; bare: number }[] = [];
  process.stdout.write(
    `cardlend CLI bench: ${ROUNDS} rounds × ${COUNT} APDUs (${WARMUP} warm-up), reader "${name}"\n`,
  );
  for (let r = 1; r <= ROUNDS; r++) {
    const d = await direct(name);
    const c = await throughLender('cli', (url) => [
      'bin/cardlend.mjs',
      'lend',
      '--yes',
      '--json',
      '--reader',
      name,
      url,
    ]);
    const b = await throughLender('bare', (url) => [
      '--import',
      'tsx',
      'bench/bare-lender.ts',
      url,
      name,
    ]);
    const row = { direct: pct(d, 50), cli: pct(c, 50), bare: pct(b, 50) };
    rows.push(row);
    process.stdout.write(
      `round ${r}: p50 direct ${f(row.direct)}  cli ${f(row.cli)}  bare ${f(row.bare)}  ` +
        `| p90 direct ${f(pct(d, 90))}  cli ${f(pct(c, 90))}  bare ${f(pct(b, 90))}\n`,
    );
  }
  const m = {
    direct: median(rows.map((x) => x.direct)),
    cli: median(rows.map((x) => x.cli)),
    bare: median(rows.map((x) => x.bare)),
    cliAdds: median(rows.map((x) => x.cli - x.direct)),
    cliOwn: median(rows.map((x) => x.cli - x.bare)),
  };
  process.stdout.write(
    `median p50: direct ${f(m.direct)}, through the CLI ${f(m.cli)}, bare lender ${f(m.bare)}\n` +
      `the CLI adds ${f(m.cliAdds)} per APDU (target < 0.200 ms): ${m.cliAdds < 200 ? 'met' : 'NOT met'}; ` +
      `of that, beyond a bare WebSocket lender: ${f(m.cliOwn)}\n` +
      `(raw p50s with vpcd's delayed-ACK waits: direct ${f(median(raw['direct'] ?? []))}, ` +
      `cli ${f(median(raw['cli'] ?? []))}, bare ${f(median(raw['bare'] ?? []))})\n`,
  );
} finally {
  card?.remove();
  await pcscd.stop();
}
