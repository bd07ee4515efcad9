/**
 * The page's share of a guest APDU, in Node (not a test): the "Try a virtual card" lending path
 * — card-sim's vendor-class reader with the PIV demo card (T=1 only), the CCID driver, the
 * CardBridge — answering guest commands that an in-memory WebSocket delivers. It times each
 * message → answer send() with Node's µs clock, where the chain benchmark (guest-image
 * `bench:chain`) sees only Chromium's 100 µs page clock, and splits the CPU per APDU by layer.
 *
 * Run: npx -y pnpm@12.4.2 --filter @cardlend/bridge bench [-- --count N] [--warmup N]
 *        [--gap-echo] [--windows] [--cpu-prof DIR] [--alloc [--alloc-top N]]
 * --warmup N   guest commands before the timed ones (default 5 000; 0: time the JIT's warm-up too)
 * --gap-echo   before each command, a 16-byte echo through another process: the path then runs
 *              after a sleep, with colder caches, as in the chain (where it runs several times
 *              slower than back to back: the chain bench's `--shadow`)
 * --windows    the p50 of each 500 timed commands in order (with --warmup 0: the JIT's warm-up)
 * --cpu-prof DIR  writes a V8 CPU profile of the timed rounds (open it in Chrome DevTools) and
 *              prints the self time per APDU of each layer (package) and of the top functions
 * --alloc      samples the timed rounds' allocations (incl. collected garbage): bytes per APDU in
 *              all, by script (its path under packages/) and at the top sites (alloc-profile.ts)
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Session } from 'node:inspector/promises';
import net from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startAllocationSampling, stopAllocationSampling } from './alloc-profile.ts';
import { largestFirst, selfTimeBy, type CpuProfile } from './cpu-profile.ts';
import { lendInMemory } from './memory-lender.ts';

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const count = Number(option('--count') ?? 20_000);
const warmup = Number(option('--warmup') ?? Math.min(5_000, count));
const profileDir = option('--cpu-prof');
const isProfilingAllocations = args.includes('--alloc');
/**
 * With `--gap-echo`, each guest command waits for a 16-byte echo from another process first, as
 * in the chain, where the page sleeps between commands while other processes run: the path then
 * runs with colder caches (12–15 µs against 9; in the chain, with QEMU running too, 37–44 µs).
 */
const isGapEcho = args.includes('--gap-echo');

/** An echo server in another process; resolves with a function that does one round trip. */
async function startEcho(): Promise<{ roundTrip: () => Promise<void>; stop: () => void }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      "const s=require('net').createServer(c=>{c.setNoDelay(true);c.on('data',d=>c.write(d))}).listen(0,'127.0.0.1',()=>console.log(s.address().port))",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  const socket = net.connect(Number(line.toString()), '127.0.0.1');
  socket.setNoDelay(true);
  await once(socket, 'connect');
  let onData: (() => void) | null = null;
  socket.on('data', () => onData?.());
  const ping = Buffer.alloc(16);
  return {
    roundTrip: () =>
      new Promise<void>((resolve) => {
        onData = resolve;
        socket.write(ping);
      }),
    stop: () => {
      socket.destroy();
      child.kill();
    },
  };
}

/** The chain benchmark's guest command: SELECT of the PIV application. */
const APDU = Uint8Array.from(Buffer.from('00A4040009A0000003080000100000', 'hex'));
/** `n` guest commands, one at a time; the time of each (message → answer send), µs. */
async function rounds(
  run: () => Promise<number>,
  n: number,
  gap: (() => Promise<void>) | null,
): Promise<Float64Array> {
  const times = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (gap !== null) await gap();
    times[i] = (await run()) * 1000;
  }
  return times;
}

const quantile = (sorted: Float64Array, q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/**
 * Self time per APDU by package (card-sim, ccid, vscard, bridge, other) and by function. This
 * bench's own code (the in-memory socket delivering each command: bridge/test, bridge/bench) is
 * 'bench harness', not the bridge's.
 */
function describeProfile(profile: CpuProfile, n: number): string[] {
  const byLayer = selfTimeBy(profile, ({ url, functionName }) =>
    /packages\/bridge\/(?:test|bench)\//.test(url)
      ? 'bench harness'
      : (/packages\/([\w-]+)\//.exec(url)?.[1] ??
        (functionName.startsWith('(') ? functionName : 'other')),
  );
  const bySite = selfTimeBy(profile, ({ url, functionName, lineNumber }) =>
    functionName === '(idle)'
      ? null
      : `${functionName || '(anonymous)'} ${url.split('/packages/').pop() ?? url}:${lineNumber + 1}`,
  );
  const per = (us: number): string => (us / n).toFixed(2).padStart(7);
  const lines = ['  self time per APDU by layer (µs):'];
  for (const [k, v] of largestFirst(byLayer)) lines.push(`  ${per(v)}  ${k}`);
  lines.push('  top functions (µs per APDU):');
  for (const [k, v] of largestFirst(bySite).slice(0, 30)) lines.push(`  ${per(v)}  ${k}`);
  return lines;
}

async function main(): Promise<void> {
  const run = await lendInMemory(APDU);
  const echo = isGapEcho ? await startEcho() : null;
  const gap = echo === null ? null : echo.roundTrip;
  await rounds(run, warmup, gap);
  const session = profileDir === undefined && !isProfilingAllocations ? null : new Session();
  session?.connect();
  const call = (method: string, params?: Record<string, unknown>): Promise<unknown> =>
    session!.post(method, params);
  if (isProfilingAllocations) await startAllocationSampling(call, 256);
  if (session !== null && profileDir !== undefined) {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 20 });
    await session.post('Profiler.start');
  }
  const cpu0 = process.cpuUsage();
  const times = await rounds(run, count, gap);
  echo?.stop();
  const cpu = process.cpuUsage(cpu0);
  const sorted = times.slice().sort();
  const mean = times.reduce((a, b) => a + b, 0) / count;
  console.log(
    `page path in Node (${count} guest APDUs after ${warmup} warm-up): message → answer send() p50 ${quantile(sorted, 0.5).toFixed(1)} µs, p99 ${quantile(sorted, 0.99).toFixed(1)} µs, mean ${mean.toFixed(1)} µs; CPU ${((cpu.user + cpu.system) / count).toFixed(1)} µs per APDU`,
  );
  if (args.includes('--windows')) {
    const w = 500;
    const parts: string[] = [];
    for (let i = 0; i + w <= count; i += w) {
      const part = times.slice(i, i + w).sort();
      parts.push(`${i}: p50 ${quantile(part, 0.5).toFixed(0)}`);
    }
    console.log(`  by ${w} APDUs (µs): ${parts.join(', ')}`);
  }
  if (isProfilingAllocations) {
    const packageOf = (url: string): string => /packages\/([\w-]+)\//.exec(url)?.[1] ?? '';
    const lines = await stopAllocationSampling(call, count, {
      top: Number(option('--alloc-top') ?? 25),
      scriptOf: (url) =>
        packageOf(url) === ''
          ? (url.split('/').pop() ?? '')
          : (url.split('/packages/').pop() ?? url),
    });
    for (const line of lines) console.log(line);
  }
  if (session !== null && profileDir !== undefined) {
    const { profile } = await session.post('Profiler.stop');
    mkdirSync(profileDir, { recursive: true });
    const file = path.join(profileDir, `page-path-${Date.now()}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    console.log(`  profile: ${file}`);
    for (const line of describeProfile(profile as CpuProfile, count)) console.log(line);
  }
}

await main();
