/**
 * Per-APDU time through `cardlend lend` against the same card reached through pcscd directly
 * (issue 12, "Speed"). Prints numbers; not a test.
 *
 *   npx -y pnpm@12.4.2 --filter @cardlend/cli bench [-- --rounds 5 --count 1000 --gap MS --profile DIR --cli FILE]
 *
 * A test pcscd (vpcd in a private namespace, needs root) holds a simulated T=1 card; quick
 * ACKs are on in that namespace (qemu-testbed's setLoopbackQuickAck: vpcd writes each command
 * in two send() calls without TCP_NODELAY, so without them nearly every exchange waits for a
 * delayed ACK, a test-reader artefact no real reader has). Each round measures, one after the
 * other (the reader is held exclusively while lent):
 *   direct — this process: @cardlend/pcsc transmit → pcscd → card;
 *   cli    — a VSCard-over-WebSocket VM in this process → `cardlend lend --json` (child
 *            process, the bundle; its APDU events read from a pipe) → pcscd → card → back;
 *   bare   — the same through bench/bare-lender.ts, a lender with no bridge logic at all;
 *   echo   — bare-lender.ts --echo answers at once, no reader: one WebSocket round trip to
 *            a separate Node process, the floor any lender process pays on top of direct.
 * cli − direct is what lending through the CLI adds; cli − bare is the CLI's own code. Each
 * time is split into its legs (to the card: the command complete at the card; back: the
 * card's answer written → the answer at the VM). Also printed: each lender's CPU per APDU
 * (all its threads), and the CLI's code per APDU measured in-process without I/O
 * (cpu-path.ts). Every path first answers 2000 unmeasured commands (`--warmup`): V8 keeps
 * compiling for the first thousands, and a lending session lives long. p50s per round, then
 * medians of rounds. `--cli FILE` runs another script as `cardlend` (a saved earlier bundle);
 * `--gap MS` idles before each measured command, so each one starts on cold CPUs and caches.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createT1Card } from '@cardlend/card-sim';
import { openReader } from '@cardlend/pcsc';
import { startPcscd, VPCD_PORTS, waitForCard } from '@cardlend/pcsc/testing';
import { setLoopbackQuickAck } from '@cardlend/qemu-testbed';
import { cliCodePerApdu } from './cpu-path.ts';
import { LenderProcess } from './lender-process.ts';
import { median, ms, nowUs, pathStats } from './stats.ts';
import type { PathStats, Sample } from './stats.ts';
import { TimedCard } from './timed-card.ts';
import { VmOverWebSocket } from './vm-ws.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  // pnpm passes the `--` of `pnpm bench -- --rounds 3` through.
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    rounds: { type: 'string' },
    count: { type: 'string' },
    warmup: { type: 'string' },
    profile: { type: 'string' },
    cli: { type: 'string' },
    gap: { type: 'string' },
  },
});
const ROUNDS = Number(values.rounds ?? 5);
const COUNT = Number(values.count ?? 1000);
const WARMUP = Number(values.warmup ?? 2000);
/** `--profile DIR`: the CLI child writes a V8 CPU profile there. */
const PROFILE_DIR = values.profile;
/** `--cli FILE`: run this script as `cardlend` (e.g. a saved earlier bundle, to compare builds). */
const CLI_SCRIPT = values.cli ?? 'bin/cardlend.mjs';
/** `--gap MS`: idle time before each measured command (0: back to back; try 40 for cold ones). */
const GAP_MS = Number(values.gap ?? 0);
/** ECHO (loopback applet INS 30) of 16 bytes, Le 16: 21 bytes out, 18 back. */
const APDU = Uint8Array.from([0x80, 0x30, 0, 0, 16, ...Array(16).keys(), 16]);

type PathName = 'direct' | 'cli' | 'bare' | 'echo';
type Row = Record<PathName, PathStats & { cpuUs: number }>;

/** Samples of `run` with the card's timestamps of the same exchange; `warm()` after the warm-up. */
async function measure(
  card: TimedCard,
  run: () => Promise<{ startUs: number; endUs: number }>,
  warm: () => void,
): Promise<Sample[]> {
  for (let i = 0; i < WARMUP; i++) await run();
  warm();
  const out: Sample[] = [];
  for (let i = 0; i < COUNT; i++) {
    if (GAP_MS > 0) await new Promise((resolve) => setTimeout(resolve, GAP_MS));
    const t = await run();
    const [atCardUs, answeredUs, ackWaitUs] = [
      card.lastCompleteUs,
      card.lastAnsweredUs,
      card.lastWaitUs,
    ];
    out.push({ ...t, atCardUs, answeredUs, ackWaitUs });
  }
  return out;
}

async function direct(card: TimedCard, name: string): Promise<Row['direct']> {
  const reader = await openReader(name);
  try {
    await reader.powerOn();
    let cpu0 = process.cpuUsage();
    const run = async (): Promise<{ startUs: number; endUs: number }> => {
      const startUs = nowUs();
      await reader.transmit(APDU);
      return { startUs, endUs: nowUs() };
    };
    const samples = await measure(card, run, () => (cpu0 = process.cpuUsage()));
    const cpu = process.cpuUsage(cpu0); // this process also plays the card
    return { ...pathStats(samples), cpuUs: (cpu.user + cpu.system) / COUNT };
  } finally {
    await reader.close();
  }
}

/** Lends through a child (`argv` gets the VM's URL appended) and measures at the VM. */
async function throughLender(
  card: TimedCard,
  which: PathName,
  argv: (url: string) => string[],
): Promise<Row['cli']> {
  const vm = await VmOverWebSocket.start();
  const lent = vm.cardLent();
  const prof =
    PROFILE_DIR !== undefined && which === 'cli'
      ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`]
      : [];
  const child = new LenderProcess([...prof, ...argv(vm.url)], root, which === 'cli');
  try {
    const died = child.exited.then(() => Promise.reject(new Error(`${which} lender exited`)));
    await Promise.race([lent, died]);
    let cpu0 = 0;
    const samples = await measure(
      card,
      () => vm.exchange(APDU),
      () => (cpu0 = child.cpuUs()),
    );
    const cpuUs = (child.cpuUs() - cpu0) / COUNT; // after the warm-up: no compiling in it
    await new Promise((resolve) => setTimeout(resolve, 100)); // the CLI writes its log every 20 ms
    if (which === 'cli' && child.apduEvents < COUNT + WARMUP)
      throw new Error(`the CLI printed ${child.apduEvents} APDU events for ${COUNT + WARMUP}`);
    return { ...pathStats(samples), cpuUs };
  } finally {
    await child.stop();
    await vm.close();
  }
}

async function round(card: TimedCard, name: string): Promise<Row> {
  const bare = (what: string) => (url: string) => [
    '--import',
    'tsx',
    'bench/bare-lender.ts',
    url,
    what,
  ];
  const cli = (url: string): string[] => [
    CLI_SCRIPT,
    'lend',
    '--yes',
    '--json',
    '--reader',
    name,
    url,
  ];
  return {
    direct: await direct(card, name),
    cli: await throughLender(card, 'cli', cli),
    bare: await throughLender(card, 'bare', bare(name)),
    echo: await throughLender(card, 'echo', bare('--echo')),
  };
}

function printRound(r: number, s: Row): void {
  const legs = (p: PathStats): string => `${ms(p.total)} (${ms(p.toCard)} + ${ms(p.fromCard)})`;
  process.stdout.write(
    `round ${r}: p50 direct ${legs(s.direct)}  cli ${legs(s.cli)}  bare ${legs(s.bare)}  ` +
      `echo ${ms(s.echo.total)} | p90 direct ${ms(s.direct.p90)} cli ${ms(s.cli.p90)} ` +
      `bare ${ms(s.bare.p90)} echo ${ms(s.echo.p90)}\n`,
  );
}

function printSummary(rows: Row[], cliCodeUs: number): void {
  const m = (f: (r: Row) => number): number => median(rows.map(f));
  const cliAdds = m((r) => r.cli.total - r.direct.total);
  const waits = rows.reduce((n, r) => n + r.direct.ackWaits + r.cli.ackWaits + r.bare.ackWaits, 0);
  const cpu = (p: PathName): string => `${m((r) => r[p].cpuUs).toFixed(0)} µs`;
  process.stdout.write(
    `median p50: direct ${ms(m((r) => r.direct.total))}, through the CLI ${ms(m((r) => r.cli.total))}, ` +
      `bare lender ${ms(m((r) => r.bare.total))}, echo lender ${ms(m((r) => r.echo.total))}\n` +
      `the CLI adds ${ms(cliAdds)} per APDU (target < 0.200 ms): ${cliAdds < 200 ? 'met' : 'NOT met'}\n` +
      `  of that: a bare lender adds ${ms(m((r) => r.bare.total - r.direct.total))} ` +
      `(floor, a WebSocket round trip to a separate process: ${ms(m((r) => r.echo.total))}); ` +
      `the CLI's code beyond a bare lender ${ms(m((r) => r.cli.total - r.bare.total))}\n` +
      `  CLI − direct by leg: to the card ${ms(m((r) => r.cli.toCard - r.direct.toCard))}, ` +
      `back ${ms(m((r) => r.cli.fromCard - r.direct.fromCard))}\n` +
      `  CPU per APDU, all threads: cli ${cpu('cli')}, bare ${cpu('bare')}, echo ${cpu('echo')} ` +
      `(direct: ${cpu('direct')}, card included); the CLI's code in-process without I/O: ` +
      `${cliCodeUs.toFixed(1)} µs\n` +
      `(exchanges with a vpcd delayed-ACK wait > 1 ms, taken out: ${waits} of ${rows.length * 3 * COUNT})\n`,
  );
}

const cliCodeUs = await cliCodePerApdu(20_000, true);
const pcscd = await startPcscd();
let card: TimedCard | undefined;
try {
  setLoopbackQuickAck(true, pcscd.pid);
  card = await TimedCard.plug(pcscd.pid, VPCD_PORTS[0], createT1Card());
  const name = pcscd.readers[0];
  await waitForCard(name, 'present');
  process.stdout.write(
    `cardlend CLI bench: ${ROUNDS} rounds × ${COUNT} APDUs (${WARMUP} warm-up` +
      `${GAP_MS > 0 ? `, ${GAP_MS} ms idle before each` : ''}), reader "${name}"; ` +
      `p50 (to the card + back)\n`,
  );
  const rows: Row[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    rows.push(await round(card, name));
    printRound(r, rows[rows.length - 1]!);
  }
  printSummary(rows, cliCodeUs);
} finally {
  card?.remove();
  await pcscd.stop();
}
