/**
 * Resident memory at start (issue 10, "Ship builds"): the relay as shipped (`node
 * dist/main.js`, built by scripts/build.mjs), the same relay run from source through tsx (how
 * it ran before), and the bare ws⇄net pipe (bench/child-pipe.ts, bundled the same way and run
 * by plain Node). Each is started `rounds` times; VmRSS is read from /proc once it listens
 * and has settled, no GC forced; the median is reported. Goal: relay ≤ 1.5 × the pipe.
 *
 * Usage on its own: tsx bench/start-rss.ts [rounds]  (relay-bench.ts runs it too).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { ChildMessage } from './bench-common.ts';

const relayDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Median VmRSS at start, bytes. */
export interface StartRss {
  readonly relayBuilt: number;
  readonly relayTsx: number;
  readonly pipe: number;
}

/** Time a started process gets to settle before its RSS is read, ms. */
const SETTLE_MS = 500;

function vmRss(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN) * 1024;
}

async function buildArtefacts(): Promise<string> {
  const run = spawn(process.execPath, ['scripts/build.mjs'], { cwd: relayDir, stdio: 'inherit' });
  const code = await new Promise<number | null>((r) => run.once('exit', r));
  if (code !== 0) throw new Error(`scripts/build.mjs exited with ${code}`);
  const pipe = path.join(relayDir, 'dist', 'bench', 'child-pipe.js');
  await build({
    absWorkingDir: relayDir,
    entryPoints: ['bench/child-pipe.ts'],
    outfile: pipe,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['ws'],
    logLevel: 'warning',
  });
  return pipe;
}

/** Starts `args` (node), waits until `isReady`, settles, reads VmRSS, stops it. */
async function rssOf(
  args: string[],
  isReady: (child: ChildProcess) => Promise<void>,
): Promise<number> {
  const child = spawn(process.execPath, args, {
    cwd: relayDir,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  try {
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`))),
    );
    await Promise.race([isReady(child), exited]);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    return vmRss(child.pid as number);
  } finally {
    child.kill('SIGKILL');
  }
}

function bannerShown(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    let err = '';
    child.stderr?.on('data', (c: Buffer) => {
      err += c.toString();
      if (err.includes('Open in Chrome')) resolve();
    });
  });
}

function ipcReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve) =>
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'ready') resolve();
    }),
  );
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

/** Builds, then measures each variant `rounds` times in turn. */
export async function measureStartRss(hostPort: number, rounds = 3): Promise<StartRss> {
  const pipeScript = await buildArtefacts();
  const relayArgs = ['--listen', '127.0.0.1:0', '--target', `127.0.0.1:${hostPort}`];
  const samples = { relayBuilt: [] as number[], relayTsx: [] as number[], pipe: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    samples.pipe.push(await rssOf([pipeScript, String(hostPort)], ipcReady));
    samples.relayBuilt.push(await rssOf(['dist/main.js', ...relayArgs], bannerShown));
    samples.relayTsx.push(
      await rssOf(['--import', 'tsx', 'src/main.ts', ...relayArgs], bannerShown),
    );
  }
  return {
    relayBuilt: median(samples.relayBuilt),
    relayTsx: median(samples.relayTsx),
    pipe: median(samples.pipe),
  };
}

/** The lines relay-bench prints; true when the built relay is within 1.5 × the pipe. */
export function reportStartRss(r: StartRss): boolean {
  const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;
  const ratio = r.relayBuilt / r.pipe;
  const isMet = ratio <= 1.5;
  console.log('\nresident memory at start (VmRSS, median):');
  console.log(`  bare ws⇄net pipe (bundled, node)      ${mib(r.pipe)}`);
  console.log(`  relay as shipped (node dist/main.js)  ${mib(r.relayBuilt)}  ${ratio.toFixed(2)}×`);
  console.log(
    `  relay through tsx (before)            ${mib(r.relayTsx)}  ${(r.relayTsx / r.pipe).toFixed(2)}×`,
  );
  console.log(`  ${isMet ? 'MET   ' : 'MISSED'} relay at start within 1.5× of the pipe`);
  return isMet;
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const host = net.createServer((s) => s.on('error', () => {}));
  await new Promise<void>((r) => host.listen(0, '127.0.0.1', r));
  const port = (host.address() as net.AddressInfo).port;
  reportStartRss(await measureStartRss(port, Number(process.argv[2] ?? 3)));
  host.close();
}
