/**
 * Relay benchmark (issue 6, "Proof"): in one run, side by side,
 *   (a) a direct TCP client of the VSCard host (no relay),
 *   (b) a bare Node ws⇄net pipe (the floor),
 *   (c) Debian's websockify (skipped with a note when not installed),
 *   (d) this relay (apps/relay/src/server.ts), in a child process.
 * The bench plays QEMU: a stand-in VSCard host (a net server here) sends VSC_APDU guest
 * commands; the WebSocket client plays the browser and answers each at once. One round
 * trip = one APDU exchange through the relay. Loopback only; every loop is bounded; the
 * whole run has a watchdog.
 *
 * Prints p50/p99 round trip at 1 session (and each variant's p50 over the bare pipe's, measured
 * in pairs over several rounds with fresh processes: see `latencyPhase`), exchanges/s at 64
 * sessions, relay CPU per exchange (of the relay process only), memory per idle session with
 * 9 000 idle sessions, and whether (d) meets the targets against (b).
 *
 * Usage: pnpm --filter @cardlend/relay bench [-- --quick] [-- --strict]
 *   --quick   smoke run (few exchanges, 300 idle sessions)
 *   --strict  exit 1 when a target is missed
 *   --only=b,d  run only these variants
 *   --idle=N    idle sessions for the memory phase (default 9 000, 300 with --quick)
 *   --profile=DIR  each Node child (pipe, relay) writes a V8 CPU profile into DIR
 *
 * Last, resident memory at start: the shipped build (dist/main.js) and the relay through tsx
 * against the bare pipe (bench/start-rss.ts).
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { measureStartRss, reportStartRss } from './start-rss.ts';
import { isQuick, isStrict, only, PARAMS, WATCHDOG_MS, FD_LIMIT } from './bench-params.ts';
import { StandInHost } from './stand-in-host.ts';
import { children, VARIANTS } from './variants.ts';
import { type Result, type Started, startVariant } from './sessions.ts';
import { phase } from './bench-math.ts';
import { latencyPhase, throughputPhase, idlePhase } from './phases.ts';
import { report } from './report.ts';

// ---------------------------------------------------------------- file descriptors
// 9 000 sessions hold 18 000 sockets in this process (clients + host side): re-exec under a raised limit.
function currentFdLimit(): number {
  const r = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' });
  const n = Number(r.stdout.trim());
  return r.stdout.trim() === 'unlimited' ? Infinity : Number.isFinite(n) ? n : 0;
}
if (process.env['CARDLEND_BENCH_CHILD'] !== '1' && currentFdLimit() < 2 * PARAMS.idle + 1000) {
  const argv = [...process.execArgv, ...process.argv.slice(1)];
  const quoted = argv.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
  const r = spawnSync(
    'bash',
    ['-c', `ulimit -n ${FD_LIMIT} && exec '${process.execPath}' ${quoted}`],
    {
      stdio: 'inherit',
      env: { ...process.env, CARDLEND_BENCH_CHILD: '1' },
    },
  );
  process.exit(r.status ?? 1);
}
const watchdog = setTimeout(() => {
  console.error(`relay-bench: watchdog: not done after ${WATCHDOG_MS / 1000} s, giving up`);
  for (const c of children) c.kill('SIGKILL');
  process.exit(1);
}, WATCHDOG_MS);
watchdog.unref();

async function main(): Promise<void> {
  const host = new StandInHost();
  const hostPort = await host.listen();
  console.log(
    `relay-bench${isQuick ? ' --quick' : ''}: Node ${process.version}, loopback, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${cpus().length} CPUs`,
  );
  if ((loadavg()[0] ?? 0) > cpus().length) {
    console.log(
      'warning: the machine is busy (load average above the CPU count): numbers are noisy and the targets indicative only',
    );
  }
  const results: Result[] = [];
  const started: Started[] = [];
  const done = phase('starting the relays');
  for (const variant of VARIANTS) {
    if (only !== undefined && !only.has(variant.name.slice(1, 2))) continue;
    const result: Result = { name: variant.name, errors: [] };
    results.push(result);
    const run = await startVariant(variant, hostPort, result);
    if (run !== undefined) started.push({ variant, run, result });
  }
  done();
  try {
    await latencyPhase(started, host, hostPort);
    await throughputPhase(started, host);
    for (const s of started) await idlePhase(s, host, hostPort);
  } catch (e) {
    console.log(`\nrelay-bench: stopped early: ${(e as Error).message}`);
  } finally {
    for (const s of started) await s.run.stop();
  }
  const isAllMet = report(results);
  const isStartRssMet = reportStartRss(await measureStartRss(hostPort, isQuick ? 1 : 3));
  process.exit(isStrict && !(isAllMet && isStartRssMet) ? 1 : 0);
}

await main();
