/**
 * The relay benchmark's variants (see relay-bench.ts): how each is started as a child process
 * (or not at all), how a browser connects to it, and how its process tree is measured.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { RELAY_PATH, RELAY_SUBPROTOCOL, RELAY_TOKEN_SUBPROTOCOL_PREFIX } from '@cardlend/vscard';
import { mintToken } from '../src/auth/tokens.ts';
import { treeCpuUs, treePssBytes, type ChildMessage } from './bench-common.ts';
import net from 'node:net';
import path from 'node:path';
import { PARAMS, IDLE_BASE } from './bench-params.ts';
import { type BrowserSession, openWsBrowser, openTcpBrowser } from './bench-browser.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const relayDir = path.resolve(here, '..');

export const children = new Set<ChildProcess>();

interface ProcStats {
  readonly cpuUs: number;
  readonly memBytes: number;
}
export interface Running {
  connect(index: number): Promise<BrowserSession>;
  /** Stats of the relay process (null for the direct client). */
  stats(): Promise<ProcStats | null>;
  stop(): Promise<void>;
  readonly idleSessions: number;
  readonly note?: string;
}
export interface Variant {
  readonly name: string;
  start(hostPort: number): Promise<Running | { skipped: string }>;
}

/**
 * `--profile=DIR`: each Node child writes V8 CPU profiles into `DIR/<child>-<time>/` on exit
 * (one file per thread: tsx's module loader runs on its own).
 */
const profileDir = process.argv.find((x) => x.startsWith('--profile='))?.slice('--profile='.length);
function profileArgs(script: string): string[] {
  if (profileDir === undefined) return [];
  const dir = path.join(profileDir, `${path.basename(script, '.ts')}-${Date.now()}`);
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=50'];
}

function spawnNodeChild(
  script: string,
  childArgs: string[],
  env: Record<string, string> = {},
): Promise<{
  child: ChildProcess;
  port: number;
  stats: () => Promise<ProcStats>;
}> {
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      ...profileArgs(script),
      '--import',
      'tsx',
      path.join(here, script),
      ...childArgs,
    ],
    {
      cwd: relayDir,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, ...env },
    },
  );
  children.add(child);
  child.on('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not start in 90 s`));
    }, 90_000);
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
    child.once('message', (m: ChildMessage) => {
      if (m.type !== 'ready') return;
      clearTimeout(t);
      resolve({
        child,
        port: m.port,
        stats: () =>
          new Promise((res, rej) => {
            const t2 = setTimeout(() => rej(new Error('stats timeout')), 20_000);
            child.once('message', (s: ChildMessage) => {
              clearTimeout(t2);
              if (s.type === 'stats') res({ cpuUs: s.cpuUs, memBytes: s.rssBytes });
            });
            child.send({ type: 'stats' });
          }),
      });
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    if (child.connected) child.send({ type: 'stop' });
    else child.kill('SIGTERM');
  });
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function waitForPort(port: number, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

const tokenSecret = randomBytes(32);

export const VARIANTS: Variant[] = [
  {
    name: '(a) direct TCP',
    async start(hostPort) {
      return {
        connect: (i) => openTcpBrowser(hostPort, `s${i}`),
        stats: async () => null,
        stop: async () => {},
        idleSessions: PARAMS.idle,
      };
    },
  },
  {
    name: '(b) bare ws-net pipe',
    async start(hostPort) {
      const c = await spawnNodeChild('child-pipe.ts', [String(hostPort)]);
      return {
        connect: (i) => openWsBrowser(`ws://127.0.0.1:${c.port}/`, [], `s${i}`, 10_000),
        stats: c.stats,
        stop: () => stopChild(c.child),
        idleSessions: PARAMS.idle,
      };
    },
  },
  {
    name: '(c) websockify',
    async start(hostPort) {
      const which = spawnSync('sh', ['-c', 'command -v websockify'], { encoding: 'utf8' });
      if (which.status !== 0)
        return { skipped: 'websockify is not installed (apt-get install -y websockify)' };
      const port = await freePort();
      const child = spawn(which.stdout.trim(), [`127.0.0.1:${port}`, `127.0.0.1:${hostPort}`], {
        stdio: ['ignore', 'ignore', 'ignore'],
      });
      children.add(child);
      child.on('exit', () => children.delete(child));
      if (!(await waitForPort(port, 15_000))) {
        child.kill('SIGKILL');
        return { skipped: 'websockify did not start listening' };
      }
      const pid = child.pid ?? 0;
      return {
        connect: (i) => openWsBrowser(`ws://127.0.0.1:${port}/`, ['binary'], `s${i}`, 10_000),
        stats: async () => ({ cpuUs: treeCpuUs(pid), memBytes: treePssBytes(pid) }),
        stop: async () => {
          child.kill('SIGTERM');
          await new Promise((r) => setTimeout(r, 300));
          if (child.exitCode === null) child.kill('SIGKILL');
        },
        idleSessions: PARAMS.websockifyIdle,
        note: `forks one Python process per connection: idle memory measured with ${PARAMS.websockifyIdle} sessions (PSS of the process tree); CPU from /proc`,
      };
    },
  },
  {
    name: '(d) cardlend relay',
    async start(hostPort) {
      // One target per session the whole run opens (the relay admits one browser per VM).
      const targets = IDLE_BASE + PARAMS.idle;
      const c = await spawnNodeChild('child-relay.ts', [String(hostPort), String(targets)], {
        BENCH_TOKEN_SECRET: tokenSecret.toString('hex'),
      });
      const url = `ws://127.0.0.1:${c.port}${RELAY_PATH}`;
      return {
        connect: (i) => {
          const token = mintToken({
            secret: tokenSecret,
            targetId: `vm-${i}`,
            ttlSeconds: 3600,
            nowMs: Date.now(),
          });
          return openWsBrowser(
            url,
            [RELAY_SUBPROTOCOL, `${RELAY_TOKEN_SUBPROTOCOL_PREFIX}${token}`],
            `s${i}`,
            10_000,
          );
        },
        stats: c.stats,
        stop: () => stopChild(c.child),
        idleSessions: PARAMS.idle,
      };
    },
  },
];
